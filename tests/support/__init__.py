"""What the tests share: builders, callers and readers that more than one test module uses.

Fixtures stay in the ``conftest.py`` files (pytest finds them there) and build on these; a test
module imports from here, never from another test module or a ``conftest.py``.
"""
