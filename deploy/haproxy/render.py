"""Renders deploy/haproxy/haproxy.cfg for replicas at known addresses.

The committed haproxy.cfg discovers replicas through Kubernetes DNS. Outside a
cluster (scripts/scaleout, tests/deploy, a laptop) the replicas are HOST:PORT
pairs: this rewrites the lines marked `# @bind NAME` (listen address or stats socket) and
`# @servers NAME` (the server-template line becomes one `server` line per
replica); everything else (checks, retries, timeouts) is kept as is.

    from render import render
    text = render(open("haproxy.cfg").read(),
                  binds={"grpc": "127.0.0.1:19001", "rest": "127.0.0.1:19000", "stats": "127.0.0.1:18404",
                         "admin": "/tmp/haproxy-admin.sock"},
                  servers={"grpc": ["127.0.0.1:40001", ...], "rest": ["127.0.0.1:40002", ...]})

CLI: render.py --bind grpc=127.0.0.1:19001 --servers grpc=127.0.0.1:8001,127.0.0.1:8101 ... < in > out
"""
import argparse
import re
import sys

_MARK = re.compile(r"^(?P<indent>\s*)(?P<body>\S.*?)\s*#\s*@(?P<kind>bind|servers)\s+(?P<name>\w+)\s*$")


def render(text, binds, servers, server_prefix="r"):
    out = []
    for line in text.splitlines():
        m = _MARK.match(line)
        if not m:
            out.append(line)
            continue
        indent, body, kind, name = m.group("indent", "body", "kind", "name")
        if kind == "bind":
            if name not in binds:
                raise KeyError(f"no address given for '# @bind {name}'")
            words = body.split()
            # "bind ADDRESS ..." or "stats socket PATH|ADDRESS ..."
            words[2 if words[:2] == ["stats", "socket"] else 1] = binds[name]
            out.append(indent + " ".join(words))
        else:
            if name not in servers:
                raise KeyError(f"no servers given for '# @servers {name}'")
            for i, address in enumerate(servers[name], 1):
                out.append(f"{indent}server {server_prefix}{i} {address}")
    return "\n".join(out) + "\n"


def _pairs(items, split_list):
    result = {}
    for item in items:
        key, _, value = item.partition("=")
        result[key] = value.split(",") if split_list else value
    return result


def main():
    parser = argparse.ArgumentParser(description="Render haproxy.cfg for explicit replicas (stdin -> stdout)")
    parser.add_argument("--bind", action="append", default=[], help="NAME=HOST:PORT")
    parser.add_argument("--servers", action="append", default=[], help="NAME=HOST:PORT,HOST:PORT,...")
    args = parser.parse_args()
    sys.stdout.write(render(sys.stdin.read(), _pairs(args.bind, False), _pairs(args.servers, True)))


if __name__ == "__main__":
    main()
