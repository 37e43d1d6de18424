"""The noisebench HDF5 dataset format: atomic writing, checksums, and safe reading.

One self-describing file per dataset variant (see docs/FORMAT.md). Writers build the file
under a temporary name in the destination folder and rename it into place only once every
dataset is complete and its sha256 recorded, so a crash never leaves a half-written file
under the final name. Readers validate structure before touching data, never follow soft or
external links, and bound every allocation, because files are shared between labs.

This module is the public import path; it re-exports the names of the modules that hold the code
(imports point one way: this facade -> reader, writer -> checks -> spec):

* `noisebench.format.spec`: the format declaration (magic, versions, kinds, splits, chunking and
  compression, typed attributes, reading limits) and the sha256 definition (`dataset_sha256`).
* `noisebench.format.checks`: validation of untrusted files (attributes, group walk, datasets, split types).
* `noisebench.format.writer`: `DatasetWriter`, `StreamingArray`, output-path and free-space checks.
* `noisebench.format.reader`: `open_file` (with the parse guard and its `PARSE_TIMEOUT_S`),
  `NoisebenchFile`, `verify`, memory checks.

To change a setting or replace a function (tests, tools), set it on the module that holds it,
e.g. `noisebench.format.reader.PARSE_TIMEOUT_S`; this facade only re-exports.
"""

from __future__ import annotations

from noisebench.format.checks import SPLIT_X_DTYPES, check_split_dtypes
from noisebench.format.reader import (
                                 METADATA_ROW,
                                 SPLIT_ROW,
                                 NoisebenchFile,
                                 available_memory,
                                 check_fits_in_memory,
                                 indices_sha256,
                                 iter_rows,
                                 metadata_status,
                                 open_file,
                                 split_status,
                                 verify,
)
from noisebench.format.spec import (
                                 ALLOWED_DTYPE_KINDS,
                                 ALLOWED_FILTERS,
                                 COMPRESSION,
                                 COMPRESSION_LEVEL,
                                 EXPANSION_SLACK_BYTES,
                                 FORMAT_MAGIC,
                                 FORMAT_VERSION,
                                 IMAGE_CHUNK_SAMPLES,
                                 KINDS,
                                 MAX_ATTR_BYTES,
                                 MAX_CHUNK_BYTES,
                                 MAX_CLASSES,
                                 MAX_EXPANSION,
                                 MAX_GROUP_DEPTH,
                                 MAX_OBJECTS,
                                 MIN_FORMAT_VERSION,
                                 READ_SLAB_BYTES,
                                 REQUIRED_ATTRS,
                                 SPLITS,
                                 TABULAR_CHUNK_ROWS,
                                 dataset_sha256,
                                 sha256_update,
                                 to_json,
)
from noisebench.format.writer import (
                                 DatasetWriter,
                                 StreamingArray,
                                 check_free_space,
                                 check_output_path,
                                 record_metadata_digest,
)

__all__ = [
    # format declaration (h5spec)
    "FORMAT_MAGIC", "FORMAT_VERSION", "MIN_FORMAT_VERSION", "KINDS", "SPLITS",
    "IMAGE_CHUNK_SAMPLES", "TABULAR_CHUNK_ROWS", "COMPRESSION", "COMPRESSION_LEVEL",
    "MAX_ATTR_BYTES", "MAX_CHUNK_BYTES", "READ_SLAB_BYTES", "ALLOWED_DTYPE_KINDS", "REQUIRED_ATTRS",
    "MAX_GROUP_DEPTH", "MAX_OBJECTS", "MAX_CLASSES", "ALLOWED_FILTERS", "MAX_EXPANSION", "EXPANSION_SLACK_BYTES",
    "sha256_update", "dataset_sha256", "to_json",
    # checks (h5checks)
    "SPLIT_X_DTYPES", "check_split_dtypes",
    # writing (h5writer)
    "DatasetWriter", "StreamingArray", "check_output_path", "check_free_space", "record_metadata_digest",
    # reading (h5reader)
    "NoisebenchFile", "open_file", "verify", "split_status", "metadata_status", "indices_sha256",
    "METADATA_ROW", "SPLIT_ROW", "available_memory", "check_fits_in_memory", "iter_rows",
]
