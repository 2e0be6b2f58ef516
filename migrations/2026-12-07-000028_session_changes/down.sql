DROP TRIGGER sessions_updated ON sessions;
DROP TRIGGER sessions_deleted ON sessions;
DROP FUNCTION sessions_changed();
