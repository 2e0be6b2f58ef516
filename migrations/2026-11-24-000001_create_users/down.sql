DROP TABLE display_pictures;
DROP TABLE users;
