-- 0002_hf.sql - what the Hugging Face compatible API needs beyond 0001:
-- per-repository Hub settings, git blob ids of files committed inline,
-- and access tokens.
--
-- A repository without an hf_repos row (made by the native API) is a
-- public model repository.

CREATE TABLE hf_repos (
    repo_id INTEGER PRIMARY KEY REFERENCES repos(id) ON DELETE CASCADE,
    type    TEXT NOT NULL DEFAULT 'model' CHECK (type IN ('model', 'dataset')),
    private INTEGER NOT NULL DEFAULT 0 CHECK (private IN (0, 1))
);

-- Files a commit sent inline ("regular" files in git terms): their git blob
-- SHA-1, which is what the Hub reports as their oid.  Every other file is
-- presented as a Git LFS file (oid = blob SHA-1 of its LFS pointer).
CREATE TABLE hf_blobs (
    file_id  INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    git_sha1 TEXT NOT NULL CHECK (length(git_sha1) = 40)
);

-- Access tokens ("hf_..."), stored as the hex SHA-256 of the token: the
-- token itself is printed once, when created, and never kept.
CREATE TABLE tokens (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    hash      TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
    can_write INTEGER NOT NULL CHECK (can_write IN (0, 1)),
    created   INTEGER NOT NULL
);
