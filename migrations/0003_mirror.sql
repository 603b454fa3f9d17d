-- 0003_mirror.sql - what a pull-through mirror (--upstream) remembers of
-- the upstream hub, so it can serve offline what it has seen.
--
-- Repositories of the upstream are not local repositories: they are keyed
-- by "model:org/name" or "dataset:org/name" and live only here.  A commit's
-- listing is fetched once (commit ids never change); a branch or tag name
-- is pinned to a commit and re-resolved at most every --upstream-ttl
-- seconds.  A file's bytes are fetched on first download and become a
-- file version like any upload (compressed, deduplicated).

CREATE TABLE mirror_commits (
    repo_key  TEXT NOT NULL,
    commit_id TEXT NOT NULL CHECK (length(commit_id) = 40),
    created   INTEGER NOT NULL, -- when it was fetched (unix seconds)
    PRIMARY KEY (repo_key, commit_id)
) WITHOUT ROWID;

CREATE TABLE mirror_entries (
    repo_key  TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    path      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    sha256    TEXT NOT NULL,  -- LFS oid, or '' for a regular git file
    git_sha1  TEXT NOT NULL,  -- blob id of a regular file, '' for LFS
    file_id   INTEGER REFERENCES files(id) ON DELETE SET NULL, -- once fetched
    PRIMARY KEY (repo_key, commit_id, path),
    FOREIGN KEY (repo_key, commit_id)
        REFERENCES mirror_commits(repo_key, commit_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX mirror_entries_file ON mirror_entries(file_id);

CREATE TABLE mirror_refs (
    repo_key  TEXT NOT NULL,
    rev       TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    fetched   INTEGER NOT NULL, -- unix seconds of the last resolution
    PRIMARY KEY (repo_key, rev)
) WITHOUT ROWID;
