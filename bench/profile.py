"""Profile one measured path in-process with pyinstrument, against the database `make bench` left behind.

    .venv/bin/python bench/profile.py /billing/pricing/ [requests] [--post-json '{...}'] [--bearer] [--session]

Runs the request through Django's test client with bench.settings (production settings),
as the measured user, after a warm-up, and prints pyinstrument's call tree. Used to find what a
row that misses its target spends its time on (bench/notes.md).
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("requests", nargs="?", type=int, default=300)
    parser.add_argument("--session", action="store_true", help="signed in to the portal")
    parser.add_argument("--bearer", action="store_true", help="with an access token of the measured user")
    parser.add_argument("--post-json", help="POST this body instead of GET")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from bench.run import bench_env

    os.environ.update(bench_env())
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    from accounts import tokens
    from accounts.models import User
    from bench.load import BENCH_USERNAME

    user = User.objects.get(username=BENCH_USERNAME)
    client = Client(HTTP_HOST="127.0.0.1")
    headers = {}
    if args.session:
        client.force_login(user)
    if args.bearer:
        headers["Authorization"] = f"Bearer {tokens.start_login(user).access}"

    def once():
        if args.post_json:
            response = client.post(args.path, args.post_json, content_type="application/json", headers=headers)
        else:
            response = client.get(args.path, headers=headers)
        assert response.status_code == 200, (response.status_code, response.content[:300])

    for _ in range(20):
        once()
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(args.requests):
            once()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
