-- 0005_hub_settings.sql - what the Hub API's repository settings add to
-- 0002: gating (PUT /api/{type}s/{repo}/settings {"gated": ...}).
--
-- hf_repos.gated: 'false', or 'auto' / 'manual' as the Hub names its two
-- kinds of gated repositories.  A gated repository's info and tree stay
-- public; its files need a token.  A repository without an hf_repos row
-- is not gated.

ALTER TABLE hf_repos ADD COLUMN gated TEXT NOT NULL DEFAULT 'false'
    CHECK (gated IN ('false', 'auto', 'manual'));
