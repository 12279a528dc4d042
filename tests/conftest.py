"""Session-wide fixtures: the real S3 servers (moto, SeaweedFS) and the index_url backends."""

from s3servers import *  # noqa: F403
