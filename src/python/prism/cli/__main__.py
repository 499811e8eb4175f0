"""``python -m prism.cli``: same as the ``prism`` command."""

from prism.cli.main import main

if __name__ == "__main__":
    main()
