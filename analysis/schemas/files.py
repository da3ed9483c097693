"""The artifact files of a run directory, relative to it, and the schema versions of those that carry one."""

CONFIG = "config.toml"
DATA_INFO = "data/info.json"
HISTORY = "train/history.json"
TIMING = "train/timing.json"
LATENTS = "latents.npy"
ENCODE_SUMMARY = "encode/summary.json"
RECONSTRUCTIONS = "encode/reconstructions.npz"
GALLERY = "encode/gallery.npz"
STATS = "stats/stats.json"
ARRAYS = "stats/arrays.npz"
METRICS = "generate/metrics.json"
CLAIMS = "claims/claims.json"
CLAIMS_DETAILS = "claims/details.json"
CLAIMS_ARRAYS = "claims/arrays.npz"
FACES = "faces/calibration.json"
FACES_EXAMPLES = "faces/examples.npz"
DECODE = "decode/decode.json"
DECODE_PLANES = "decode/planes.npz"
DECODE_PATHS = "decode/paths.npz"
ACROSS_LEDGER = "across/ledger.json"
ACROSS_RUNS = "across/runs.json"

#: ``schema_version`` of the files that carry one (a reader refuses another version).
STATS_SCHEMA = 3
FACES_SCHEMA = 2
CLAIMS_SCHEMA = 2
DECODE_SCHEMA = 2
ACROSS_SCHEMA = 1

__all__ = [n for n in dir() if n.isupper()]
