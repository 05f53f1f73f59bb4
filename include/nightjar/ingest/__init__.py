"""Landing raw batches on lakeFS: validation with pandera, bulk files, and the changes a
merge into main made.
"""
