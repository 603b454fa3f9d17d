-- 0001_init.sql - the first schema of elvesd's metadata database.
--
-- Revisions: every commit is a full snapshot (tree_entries lists every path
-- of the commit), so a new commit copies its parent's entries plus the
-- change.  Model repositories hold few files, so snapshots stay small and
-- every lookup is one indexed row.
--
-- Liveness: a file version lives while some branch or tag head lists it.
-- When it stops being listed it is deleted in the same transaction (its
-- entries in older commits go with it), which releases its blocks.
--
-- Reference counts are kept by triggers, so they can never drift from the
-- rows they count:
--   chunks.refcount  = number of file_blocks rows naming the chunk
--   tensors.refcount = number of file_segments rows naming the tensor
--   packs.live_*     = sum over chunks rows in the pack
-- Rows whose count is zero stay until garbage collection (gc.c) removes
-- them, so an ingest job may still pick them up again meanwhile.
--
-- files, chunks and tensors use AUTOINCREMENT: their ids are held in memory
-- (a download's file id, the decoded-block cache keyed by chunk id), so an
-- id must never come back naming other bytes after its row was deleted.

CREATE TABLE repos (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    mode    TEXT NOT NULL CHECK (mode IN ('lossless', 'elf')),
    created INTEGER NOT NULL
);

CREATE TABLE commits (
    id      TEXT PRIMARY KEY CHECK (length(id) = 40),
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    parent  TEXT,  -- not a foreign key: history may be pruned
    message TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX commits_repo ON commits(repo_id);

CREATE TABLE refs (
    repo_id   INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('branch', 'tag')),
    commit_id TEXT NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    PRIMARY KEY (repo_id, name)
);
CREATE INDEX refs_commit ON refs(commit_id);

-- One row per uploaded file version.
CREATE TABLE files (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    size          INTEGER NOT NULL,  -- bytes served
    sha256        TEXT NOT NULL,     -- hex of the bytes served
    upload_size   INTEGER NOT NULL,  -- as uploaded (differs from size/sha256
    upload_sha256 TEXT NOT NULL,     -- only for ELF-decoded files)
    mode          TEXT NOT NULL CHECK (mode IN ('lossless', 'elf')),
    state         TEXT NOT NULL
                  CHECK (state IN ('spooled', 'compressing', 'stored', 'failed')),
    error         TEXT,
    spool         TEXT UNIQUE,       -- file name under spool/ while it exists
    format        TEXT,              -- safetensors, gguf, opaque (once parsed)
    stored_bytes  INTEGER NOT NULL DEFAULT 0, -- encoded bytes this upload wrote
    created       INTEGER NOT NULL
);
CREATE INDEX files_upload ON files(upload_sha256, mode, state);

CREATE TABLE tree_entries (
    commit_id TEXT NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    path      TEXT NOT NULL,
    file_id   INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    PRIMARY KEY (commit_id, path)
) WITHOUT ROWID;
CREATE INDEX tree_entries_file ON tree_entries(file_id);

-- Pack files of the local chunk store (objects for other backends).
CREATE TABLE packs (
    id          INTEGER PRIMARY KEY,
    live_bytes  INTEGER NOT NULL DEFAULT 0,
    live_chunks INTEGER NOT NULL DEFAULT 0
);

-- One encoded block in the chunk store.
CREATE TABLE chunks (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    pack     INTEGER NOT NULL,
    offset   INTEGER NOT NULL,  -- of the chunk record in the pack
    length   INTEGER NOT NULL,  -- encoded block bytes
    checksum INTEGER NOT NULL,  -- XXH3-64 of the encoded bytes (as int64)
    raw_len  INTEGER NOT NULL,  -- decoded bytes
    codec    INTEGER NOT NULL,  -- elves_codec of the block
    refcount INTEGER NOT NULL DEFAULT 0 CHECK (refcount >= 0)
);
CREATE INDEX chunks_pack ON chunks(pack);
CREATE INDEX chunks_dead ON chunks(refcount) WHERE refcount = 0;

-- Stored tensors, found by fingerprint (dtype + shape + bytes).  lossy = 1
-- when some block was written with ELF: only ELF repos may use those.
CREATE TABLE tensors (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    lossy       INTEGER NOT NULL CHECK (lossy IN (0, 1)),
    dtype       TEXT NOT NULL,
    shape       TEXT NOT NULL,  -- JSON array
    raw_len     INTEGER NOT NULL,
    codec       TEXT NOT NULL,
    refcount    INTEGER NOT NULL DEFAULT 0 CHECK (refcount >= 0),
    UNIQUE (fingerprint, lossy)
);
CREATE INDEX tensors_dead ON tensors(refcount) WHERE refcount = 0;

CREATE TABLE tensor_blocks (
    tensor_id  INTEGER NOT NULL REFERENCES tensors(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    raw_offset INTEGER NOT NULL,  -- within the tensor
    raw_len    INTEGER NOT NULL,
    chunk_id   INTEGER NOT NULL REFERENCES chunks(id),
    PRIMARY KEY (tensor_id, seq)
) WITHOUT ROWID;
CREATE INDEX tensor_blocks_chunk ON tensor_blocks(chunk_id);

-- A stored file's segments (what the parser found) ...
CREATE TABLE file_segments (
    file_id   INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    name      TEXT,
    dtype     TEXT NOT NULL,
    offset    INTEGER NOT NULL,
    length    INTEGER NOT NULL,
    codec     TEXT,
    tensor_id INTEGER REFERENCES tensors(id),
    PRIMARY KEY (file_id, seq)
) WITHOUT ROWID;
CREATE INDEX file_segments_tensor ON file_segments(tensor_id);

-- ... and its manifest: the blocks that tile it, in file order.
CREATE TABLE file_blocks (
    file_id    INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    raw_offset INTEGER NOT NULL,  -- within the file
    raw_len    INTEGER NOT NULL,
    chunk_id   INTEGER NOT NULL REFERENCES chunks(id),
    PRIMARY KEY (file_id, seq)
) WITHOUT ROWID;
CREATE INDEX file_blocks_chunk ON file_blocks(chunk_id);

-- The durable job queue: one compression job per uploaded file version.
CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY,
    file_id        INTEGER REFERENCES files(id) ON DELETE SET NULL,
    repo           TEXT NOT NULL,
    path           TEXT NOT NULL,
    state          TEXT NOT NULL
                   CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    progress_bytes INTEGER NOT NULL DEFAULT 0,
    total_bytes    INTEGER NOT NULL,
    error          TEXT,
    created        INTEGER NOT NULL,
    started        INTEGER,
    finished       INTEGER
);
CREATE INDEX jobs_state ON jobs(state, id);
CREATE INDEX jobs_file ON jobs(file_id);

-- dialect: sqlite
CREATE TRIGGER file_blocks_ref AFTER INSERT ON file_blocks BEGIN
    UPDATE chunks SET refcount = refcount + 1 WHERE id = NEW.chunk_id;
END;
CREATE TRIGGER file_blocks_unref AFTER DELETE ON file_blocks BEGIN
    UPDATE chunks SET refcount = refcount - 1 WHERE id = OLD.chunk_id;
END;

CREATE TRIGGER file_segments_ref AFTER INSERT ON file_segments
WHEN NEW.tensor_id IS NOT NULL BEGIN
    UPDATE tensors SET refcount = refcount + 1 WHERE id = NEW.tensor_id;
END;
CREATE TRIGGER file_segments_unref AFTER DELETE ON file_segments
WHEN OLD.tensor_id IS NOT NULL BEGIN
    UPDATE tensors SET refcount = refcount - 1 WHERE id = OLD.tensor_id;
END;

CREATE TRIGGER chunks_add AFTER INSERT ON chunks BEGIN
    INSERT OR IGNORE INTO packs (id) VALUES (NEW.pack);
    UPDATE packs SET live_bytes = live_bytes + NEW.length,
                     live_chunks = live_chunks + 1
     WHERE id = NEW.pack;
END;
CREATE TRIGGER chunks_del AFTER DELETE ON chunks BEGIN
    UPDATE packs SET live_bytes = live_bytes - OLD.length,
                     live_chunks = live_chunks - 1
     WHERE id = OLD.pack;
END;
CREATE TRIGGER chunks_move AFTER UPDATE OF pack ON chunks
WHEN NEW.pack != OLD.pack BEGIN
    UPDATE packs SET live_bytes = live_bytes - OLD.length,
                     live_chunks = live_chunks - 1
     WHERE id = OLD.pack;
    INSERT OR IGNORE INTO packs (id) VALUES (NEW.pack);
    UPDATE packs SET live_bytes = live_bytes + NEW.length,
                     live_chunks = live_chunks + 1
     WHERE id = NEW.pack;
END;

-- dialect: postgres
-- The same triggers in PostgreSQL: one plpgsql function per table.
CREATE FUNCTION file_blocks_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE chunks SET refcount = refcount + 1 WHERE id = NEW.chunk_id;
    ELSE
        UPDATE chunks SET refcount = refcount - 1 WHERE id = OLD.chunk_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER file_blocks_count AFTER INSERT OR DELETE ON file_blocks
    FOR EACH ROW EXECUTE FUNCTION file_blocks_count();

CREATE FUNCTION file_segments_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.tensor_id IS NOT NULL THEN
            UPDATE tensors SET refcount = refcount + 1 WHERE id = NEW.tensor_id;
        END IF;
    ELSIF OLD.tensor_id IS NOT NULL THEN
        UPDATE tensors SET refcount = refcount - 1 WHERE id = OLD.tensor_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER file_segments_count AFTER INSERT OR DELETE ON file_segments
    FOR EACH ROW EXECUTE FUNCTION file_segments_count();

CREATE FUNCTION chunks_pack_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE packs SET live_bytes = live_bytes - OLD.length,
                         live_chunks = live_chunks - 1
         WHERE id = OLD.pack;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO packs (id) VALUES (NEW.pack) ON CONFLICT DO NOTHING;
        UPDATE packs SET live_bytes = live_bytes + NEW.length,
                         live_chunks = live_chunks + 1
         WHERE id = NEW.pack;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER chunks_pack_bytes AFTER INSERT OR DELETE ON chunks
    FOR EACH ROW EXECUTE FUNCTION chunks_pack_bytes();
CREATE TRIGGER chunks_move AFTER UPDATE OF pack ON chunks
    FOR EACH ROW WHEN (NEW.pack <> OLD.pack)
    EXECUTE FUNCTION chunks_pack_bytes();
