# BUILD-file macros (loaded through [GLOBAL].build_file_prelude_globs).

PRISM_VERSION = "0.1.0"


def prism_plugin(name, description, **kwargs):
    """A pattern plugin folder: its sources, its wheel and its server PEX.

    The wheel is `prism-plugin-<name>` with the console script `prism-plugin-<name>` and the
    entry point `prism.plugins: <name> = prism.plugins.<name>`, by which an installed gateway
    finds it (prism.sdk.plugin.discovery); it requires prism-sdk (inferred from the imports).
    `./pants run <folder>:server` runs it; the ./prism launcher builds it for every folder.
    """
    main = f"prism.plugins.{name}.__main__:main"
    python_sources(name=name, **kwargs)
    python_distribution(
        name="dist",
        dependencies=[f":{name}"],
        provides=python_artifact(
            name=f"prism-plugin-{name}",
            version=PRISM_VERSION,
            description=description,
            python_requires=">=3.11",
        ),
        entry_points={
            "console_scripts": {f"prism-plugin-{name}": main},
            "prism.plugins": {name: f"prism.plugins.{name}"},
        },
        wheel=True,
        sdist=False,
        repositories=["@prism"],  # `./pants publish`: the index is configured per machine
    )
    pex_binary(name="server", entry_point=main, dependencies=[f":{name}"])


def plugin_tests(plugin, timeout, extra_dependencies=(), **kwargs):
    """tests/plugins/<plugin>/: its conftest fixtures (`:utils`, on the real test servers of
    tests/services), its gateway ghz suites (`:ghz`, for tests/load/ghz/run.sh --plugin
    <plugin>) and its tests. The tests depend on the server scripts (//tools:scripts) and the
    whole plugin folder: the gateway runs the plugin as a child (`python -m`), which import
    inference cannot see.
    """
    python_test_utils(
        name="utils", sources=["conftest.py", "__init__.py"], dependencies=["tests/services:utils"]
    )
    files(name="ghz", sources=["ghz/*"])
    python_tests(
        name="tests",
        dependencies=[
            ":utils",
            ":ghz",
            "tests/services:utils",
            "//tools:scripts",
            f"src/python/prism/plugins/{plugin}",
            *extra_dependencies,
        ],
        timeout=timeout,
        **kwargs,
    )
