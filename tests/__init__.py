"""nerwin's tests: a package so that `from tests.helpers import ...` works under every pytest import mode."""
