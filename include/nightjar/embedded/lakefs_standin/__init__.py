"""A lakeFS-compatible stand-in server, the way moto stands in for AWS.

No lakeFS binary can be installed on the machines Nightjar is built and tested on, so the
embedded stack and the tests talk, through the official ``lakefs`` SDK, to this small
server instead. It keeps repositories, branches, commits, tags and objects on disk and
reproduces the lakeFS semantics Nightjar relies on (``docs`` in the package README and
``tests/lakefs``): branching from committed heads, staging, empty-commit and no-op-merge
refusals, three-way merges that never fast-forward, conflicts, dirty destinations,
reverts, immutable tags, branch protection and conditional uploads; and the S3-gateway
subset ``deltalake``'s ``lakefs://`` mode needs (SigV4, GET/HEAD with Range, conditional
PUT, multipart uploads, DeleteObjects, ListObjectsV2).

It is not lakeFS: one key pair, no hooks or actions, no garbage collection, no imports,
no presigned URLs or other S3 calls, whole-snapshot trees instead of ranges, and its own
commit ids.
"""
