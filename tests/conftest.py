pytest_plugins = ["tests.fixtures.database", "tests.fixtures.platform", "tests.fixtures.live"]
