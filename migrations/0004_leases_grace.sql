-- 0004_leases_grace.sql - what several elvesd processes sharing one
-- database need: job leases and a grace time before GC.
--
-- jobs.lease_until: a running job is its claimer's until then (unix
-- seconds); the claimer renews it while it works, and a job whose lease
-- ran out (its process died) goes back to the queue.  The SQLite backend
-- has one process and requeues every running job at open, but keeps the
-- column up to date as well.
--
-- chunks.dead_since, tensors.dead_since: when the row's reference count
-- last fell to zero (unix seconds), NULL while it is referenced.  A new
-- row starts unreferenced, so it is dead since its insert: a chunk a job
-- wrote before it crashed ages like any other.  GC frees only rows dead
-- for longer than its grace time, so a job of another process that found
-- a zero-count tensor a moment ago may still reference it.  Rows already
-- dead when this migration runs count as dead since forever (0).

ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
ALTER TABLE chunks ADD COLUMN dead_since INTEGER;
ALTER TABLE tensors ADD COLUMN dead_since INTEGER;
UPDATE chunks SET dead_since = 0 WHERE refcount = 0;
UPDATE tensors SET dead_since = 0 WHERE refcount = 0;
DROP INDEX chunks_dead;
DROP INDEX tensors_dead;
CREATE INDEX chunks_dead ON chunks(dead_since) WHERE refcount = 0;
CREATE INDEX tensors_dead ON tensors(dead_since) WHERE refcount = 0;

-- dialect: sqlite
CREATE TRIGGER chunks_born AFTER INSERT ON chunks BEGIN
    UPDATE chunks SET dead_since = CAST(strftime('%s', 'now') AS INTEGER)
     WHERE id = NEW.id AND NEW.refcount = 0;
END;
CREATE TRIGGER chunks_dead_since AFTER UPDATE OF refcount ON chunks
WHEN (NEW.refcount = 0) != (OLD.refcount = 0) BEGIN
    UPDATE chunks SET dead_since = CASE WHEN NEW.refcount = 0
        THEN CAST(strftime('%s', 'now') AS INTEGER) END
     WHERE id = NEW.id;
END;
CREATE TRIGGER tensors_born AFTER INSERT ON tensors BEGIN
    UPDATE tensors SET dead_since = CAST(strftime('%s', 'now') AS INTEGER)
     WHERE id = NEW.id AND NEW.refcount = 0;
END;
CREATE TRIGGER tensors_dead_since AFTER UPDATE OF refcount ON tensors
WHEN (NEW.refcount = 0) != (OLD.refcount = 0) BEGIN
    UPDATE tensors SET dead_since = CASE WHEN NEW.refcount = 0
        THEN CAST(strftime('%s', 'now') AS INTEGER) END
     WHERE id = NEW.id;
END;

-- dialect: postgres
-- One function serves both tables: it sets the row being written.
ALTER TABLE chunks ALTER COLUMN dead_since
    SET DEFAULT floor(extract(epoch FROM now()))::bigint;
ALTER TABLE tensors ALTER COLUMN dead_since
    SET DEFAULT floor(extract(epoch FROM now()))::bigint;
CREATE FUNCTION dead_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.refcount = 0 AND OLD.refcount > 0 THEN
        NEW.dead_since := floor(extract(epoch FROM now()))::bigint;
    ELSIF NEW.refcount > 0 THEN
        NEW.dead_since := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER chunks_dead_since BEFORE UPDATE OF refcount ON chunks
    FOR EACH ROW EXECUTE FUNCTION dead_since();
CREATE TRIGGER tensors_dead_since BEFORE UPDATE OF refcount ON tensors
    FOR EACH ROW EXECUTE FUNCTION dead_since();
