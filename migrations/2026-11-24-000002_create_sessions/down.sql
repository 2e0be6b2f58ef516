DROP TABLE app_secrets;
DROP TABLE auth_throttle;
DROP TABLE sessions;
