"""A pre-imported parent that forks real poller processes on demand (crash tests).

Starting `helpdesk poll --once` costs seconds of imports on a busy machine; killing twenty of
them would mostly kill imports. This process imports everything once, then for each "fork" line
on stdin forks a child that runs exactly what `helpdesk poll --once` runs, and prints its pid.
"wait PID" reaps a child and prints its exit code. Settings come from HELPDESK_* variables.
"""
import os
import sys

from helpdesk import create_app
from workers.mail_poller import poll_once_for_cli


def child() -> int:
    app = create_app()
    with app.app_context():
        _, errors = poll_once_for_cli(app)
    return 1 if errors else 0


def main() -> None:
    for line in sys.stdin:
        command = line.split()
        if command == ["fork"]:
            pid = os.fork()
            if pid == 0:
                code = 2
                try:
                    code = child()
                finally:
                    os._exit(code)
            print(pid, flush=True)
        elif command[:1] == ["wait"]:
            _, status = os.waitpid(int(command[1]), 0)
            print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    main()
