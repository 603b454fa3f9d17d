-- 0006_delta.sql - model families: tensors delta-coded against a base
-- tensor (issue 15), and the base a repository declares.
--
-- tensors.base_id: the tensor whose decoded bytes this one's delta blocks
-- are coded against, NULL for a tensor coded alone.  It is a reference: GC
-- never deletes a tensor that some other tensor names as its base, even
-- when no file lists it any more (the base repository was deleted), and
-- its chunks stay because its tensor_blocks rows do.  When the last delta
-- tensor goes, the base is an ordinary unreferenced tensor again and ages
-- out with the grace time.  Chains are one level deep: a base has no base.
--
-- repos.base: "org/name" or "org/name@revision", the base model declared
-- when the repository was made or by an upload; NULL if none (a model
-- card's base_model is read from README.md at ingest, not kept here).

ALTER TABLE tensors ADD COLUMN base_id INTEGER REFERENCES tensors(id);
-- tensors.alone_bytes: for a delta tensor, what coding it alone would take
-- by the order-0 bound the FLOAT codec comes within a few percent of
-- (elves_entropy_bound), so that stats can say what delta coding saved.
ALTER TABLE tensors ADD COLUMN alone_bytes INTEGER;
CREATE INDEX tensors_base ON tensors(base_id) WHERE base_id IS NOT NULL;
-- Base detection finds stored tensors by the name a segment gave them.
CREATE INDEX file_segments_name ON file_segments(name, dtype)
    WHERE name IS NOT NULL;
ALTER TABLE repos ADD COLUMN base TEXT;
