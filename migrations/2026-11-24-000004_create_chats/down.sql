DROP TRIGGER chat_participants_direct_pair ON chat_participants;
DROP FUNCTION chat_participants_direct_pair();
DROP TABLE chat_participants;
DROP TABLE direct_chats;
DROP TABLE chats;
