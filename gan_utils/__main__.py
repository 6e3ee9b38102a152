"""``python -m gan_utils ...``: the CLI (gan_utils.cli). An error a user can fix that is raised
while the package is imported (a bad environment variable, say) is one line and exit status 2 too."""
import sys


def entry() -> int:
    try:
        from .cli import main
    except Exception as e:  # noqa: BLE001 - only a UserError is turned into one line
        if any(c.__name__ == "UserError" for c in type(e).__mro__):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
    return main()


if __name__ == "__main__":
    sys.exit(entry())
