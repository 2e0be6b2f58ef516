DROP TABLE friends;
DROP TABLE friend_requests;
