import pytest

# the shared contract's assertions explain themselves like those in the test modules
pytest.register_assert_rewrite("tests.sources.contract")
