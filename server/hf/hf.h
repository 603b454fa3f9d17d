/*
 * hf.h - the Hugging Face layer as main.c sees it: its route tables, which
 * follow the native ones (api/routes_api.h), and the mirror of an upstream
 * hub (mirror.h) that they fall back to.
 */
#ifndef ELVESD_HF_H
#define ELVESD_HF_H

#include "http.h"

/* The Hugging Face Hub API: downloads, info, tree, paths-info, repo
 * creation (routes_hf.c) and uploads: preupload, LFS, commit
 * (routes_hf_upload.c). */
extern const http_route routes_hf[];
extern const http_route routes_hf_upload[];
/* Repository management: list models/datasets, branches, tags, refs,
 * commits, settings, move, delete, super-squash, auth-check; and the
 * Hub's error for the Hub routes not implemented, so it goes last
 * (routes_hf_repo.c). */
extern const http_route routes_hf_repo[];

#endif /* ELVESD_HF_H */
