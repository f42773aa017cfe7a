#!/usr/bin/python3
"""End to end, with an independent client: Debian's python3-grpcio drives spotflowd over the
wire through messages generated from the .proto files (protoc --python_out), no C++ stubs.

  e2e_test.py SPOTFLOWD PYTHON_PROTO_DIR SPOTFLOW_CLI

Starts spotflowd on a fresh data directory (port 0, --demo), runs a whole production order,
checks reflection and health, bad input (each with its code, nothing written, the server up),
a second server on the same directory (refused, non-zero exit), and a restart that keeps every
state. Exits non-zero on the first failure.
"""
import base64
import calendar
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc

spotflowd, proto_dir, cli = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, proto_dir)
from proto import commands_pb2, domain_pb2, error_pb2, service_pb2  # noqa: E402


def start(data_dir, demo, extra=()):
    args = [spotflowd, "--listen=127.0.0.1:0", "--data-dir=" + data_dir] + list(extra)
    if demo:
        args.append("--demo")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tokens, output = {}, []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("spotflowd exited early:\n" + "".join(output))
        output.append(line)
        found = re.match(r"\s+(\w+)\s+\w+\s+([0-9a-f]{64})$", line)
        if found:
            tokens[found.group(1)] = found.group(2)
        found = re.search(r'First administrator "admin"; token \(shown once\): ([0-9a-f]{64})', line)
        if found:
            tokens["admin"] = found.group(1)
        # Without the demo, stdout here is a pipe (a log): the token is in a file instead.
        found = re.search(r'first administrator "admin": its token is in (\S+) ', line)
        if found:
            expect(oct(os.stat(found.group(1)).st_mode & 0o777) == "0o600",
                   "the first administrator's token file is its user's alone")
            with open(found.group(1)) as kept:
                tokens["admin"] = kept.read().strip()
            expect(tokens["admin"] not in "".join(output),
                   "the first administrator's token is not in the log")
        found = re.search(r"\(port (\d+),", line)
        if found:
            process.startup = "".join(output)  # What it logged while starting.
            return process, int(found.group(1)), tokens
    raise SystemExit("spotflowd did not start:\n" + "".join(output))


class Api:
    def __init__(self, port, credentials=None):
        target = "127.0.0.1:%d" % port
        self.channel = (grpc.secure_channel(target, credentials) if credentials
                        else grpc.insecure_channel(target))

    def call(self, service, method, request, response_type, token):
        stub = self.channel.unary_unary(
            "/spotflow.v1.%s/%s" % (service, method),
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString)
        metadata = [("authorization", "Bearer " + token)] if token else []
        return stub(request, metadata=metadata, timeout=30)

    def change(self, service, method, body_field, body, token, **fields):
        request = getattr(service_pb2, method + "Request")(**{body_field: body}, **fields)
        return self.call(service, method, request, commands_pb2.CommandResult, token)

    def order(self, order_id, token):
        return self.call("Orders", "GetOrder", service_pb2.GetOrderRequest(order_id=order_id),
                         domain_pb2.OrderView, token)

    def head(self, token):
        return self.call("Events", "VerifyLog", service_pb2.VerifyLogRequest(),
                         service_pb2.VerifyLogResponse, token).last_position


def ways_back(text):
    """The ways back a reassignment prints: (giver, command) for each command, those on the
    lines under a giver's first one included."""
    found, giver = [], None
    for line in text.splitlines():
        first = re.match(r"  to move them back to (\w+)(?: \([^)]*\))?: (spotflow .*)$", line)
        more = re.match(r" {20,}(spotflow .*)$", line)
        if first:
            giver = first.group(1)
            found.append((giver, first.group(2)))
        elif more and giver:
            found.append((giver, more.group(1)))
        else:
            giver = None
    return found


def expect(condition, what):
    if not condition:
        raise SystemExit("FAILED: " + what)
    print("ok:", what)


def expect_code(api, admin, code, what, fn):
    before = api.head(admin)
    try:
        fn()
    except grpc.RpcError as error:
        expect(error.code() == code and error.details(),
               "%s -> %s (%s)" % (what, error.code().name, error.details()))
    else:
        raise SystemExit("FAILED: %s was accepted" % what)
    expect(api.head(admin) == before, what + " wrote nothing")
    api.call("Events", "Ping", service_pb2.PingRequest(), service_pb2.PingResponse, admin)


def main():
    data_dir = tempfile.mkdtemp(prefix="spotflow-e2e-")
    process, port, tokens = start(data_dir, demo=True)
    try:
        api = Api(port)
        admin, sam, pete, mia = tokens["admin"], tokens["sam"], tokens["pete"], tokens["mia"]

        created = api.change("Orders", "CreateOrder", "create_order", commands_pb2.CreateOrder(
            kind=domain_pb2.PRODUCTION, client_id="acme", title="E2E sale :30",
            spot_length_seconds=30, flight_start=domain_pb2.Date(year=2098, month=2, day=1),
            flight_end=domain_pb2.Date(year=2098, month=2, day=28)), sam)
        order = created.id
        expect(created.key.startswith("PO-"), "order created over the wire: " + created.key)
        api.change("Orders", "SubmitRevision", "submit_revision", commands_pb2.SubmitRevision(
            order_id=order, artifact="script", text="Draft one"), pete)
        api.change("Orders", "RequestChanges", "request_changes", commands_pb2.RequestChanges(
            order_id=order, artifact="script", revision=1, comment="Shorter"), sam)
        api.change("Orders", "SubmitRevision", "submit_revision", commands_pb2.SubmitRevision(
            order_id=order, artifact="script", text="Draft two"), pete)
        api.change("Orders", "ForwardToClient", "forward_to_client", commands_pb2.ForwardToClient(
            order_id=order, artifact="script", revision=2, contact_id="carol"), sam)
        api.change("Orders", "RecordClientAnswer", "record_client_answer",
                   commands_pb2.RecordClientAnswer(order_id=order, artifact="script", revision=2,
                                                   contact_id="carol", approved=True), sam)
        api.change("Orders", "SubmitRevision", "submit_revision", commands_pb2.SubmitRevision(
            order_id=order, artifact="spot",
            media=domain_pb2.Media(uri="s3://e2e/spot.wav", duration_ms=30000)), pete)
        api.change("Orders", "ApproveRevision", "approve_revision", commands_pb2.ApproveRevision(
            order_id=order, artifact="spot", revision=1), sam)
        change = api.change("Orders", "RequestFlightChange", "request_flight_change",
                            commands_pb2.RequestFlightChange(
                                order_id=order,
                                new_start=domain_pb2.Date(year=2098, month=2, day=5),
                                new_end=domain_pb2.Date(year=2098, month=3, day=5)), sam)
        api.change("Orders", "DecideFlightChange", "decide_flight_change",
                   commands_pb2.DecideFlightChange(order_id=order, request_id=change.sub_id,
                                                   approved=True), mia)
        api.change("Orders", "AddComment", "add_comment",
                   commands_pb2.AddComment(order_id=order, text="Stations want it by Friday"), sam)
        api.change("Orders", "PerformAction", "perform_action",
                   commands_pb2.PerformAction(order_id=order, action="deliver",
                                              comment="Sent to stations"), pete)
        done = api.change("Orders", "ArchiveOrder", "archive_order",
                          commands_pb2.ArchiveOrder(order_id=order), sam)
        view = api.order(order, sam)
        expect(view.status == "completed" and view.archived and view.completed,
               "the order went from creation to archive")
        expect(len(view.scripts) == 2 and len(view.spots) == 1 and view.flight_start.day == 5,
               "its revision history and the granted flight change are there")

        # The CLI: a table, JSON, and the server's message with exit code 1 on an error.
        told = subprocess.run([cli, "--server=127.0.0.1:%d" % port, "--token=" + sam, "order",
                               "history", order], capture_output=True, text=True, timeout=30)
        expect("flight change %s approved by " % change.sub_id in told.stdout,
               "a flight change granted reads as `flight decide ... approve` says: " + told.stdout)
        def run_cli(*args, token=sam):
            return subprocess.run([cli, "--server=127.0.0.1:%d" % port, "--token=" + token]
                                  + list(args), capture_output=True, text=True, timeout=30,
                                  stdin=subprocess.DEVNULL)

        def ok(what, *args, token=admin):
            result = run_cli(*args, token=token)
            expect(result.returncode == 0 and result.stdout.startswith("ok"),
                   "%s (%s)" % (what, (result.stderr or result.stdout).strip()))
        listed = run_cli("order", "list", "--archived", "include")
        expect(listed.returncode == 0 and created.key in listed.stdout,
               "spotflow order list shows the order")
        # Port 1 on localhost: nothing listens there.
        down = subprocess.run([cli, "--server=127.0.0.1:1", "--token=" + sam, "order", "list"],
                              capture_output=True, text=True, timeout=30)
        expect(down.returncode == 1 and "UNAVAILABLE" in down.stderr
               and "is spotflowd running at 127.0.0.1:1?" in down.stderr,
               "a server that is not there is named: " + down.stderr)
        for program, name in ((cli, "spotflow"), (spotflowd, "spotflowd")):
            version = subprocess.run([program, "--version"], capture_output=True, text=True,
                                     timeout=30)
            expect(version.returncode == 0
                   and re.fullmatch(name + r" \d+\.\d+\.\d+\n", version.stdout),
                   "%s --version says its version: %r" % (name, version.stdout + version.stderr))
        unknown_host = subprocess.run([cli, "--server=nohost.invalid:50051", "--token=" + sam,
                                       "order", "list"], capture_output=True, text=True,
                                      timeout=60)
        expect(unknown_host.returncode == 1 and "no host is known by the name in "
               "nohost.invalid:50051: --server (or $SPOTFLOW_SERVER) is HOST:PORT"
               in unknown_host.stderr, "a host that does not resolve is named: "
               + unknown_host.stderr)
        shown = run_cli("--json", "order", "show", order)
        expect(shown.returncode == 0 and json.loads(shown.stdout)["status"] == "completed",
               "spotflow --json order show prints the order as JSON")
        shown = run_cli("order", "show", order).stdout
        expect(re.search(r"^  latest comment by sam, [\d-]+ [\d:]+ UTC: Stations want it by "
                         r"Friday$", shown, re.M)
               and re.search(r"^  deliver by pete, [\d-]+ [\d:]+ UTC: Sent to stations$", shown,
                             re.M)
               and "status completed (final)" in shown,
               "order show gives the latest comment and the last action's note:\n" + shown)
        to_carol = run_cli("order", "show", order, token=tokens["carol"])
        expect("Friday" not in to_carol.stdout and "Sent to stations" not in to_carol.stdout,
               "neither reaches a contact's login:\n" + to_carol.stdout)
        expect(to_carol.returncode == 0 and "owner sam\n" in to_carol.stdout
               and "producer" not in to_carol.stdout,
               "a contact's login is not told of a producer, nor that there is none:\n"
               + to_carol.stdout + to_carol.stderr)
        expect("pete" not in to_carol.stdout and "created by" not in to_carol.stdout,
               "nor who in the house wrote a revision or opened the order:\n" + to_carol.stdout)
        expect(re.search(r"\n  to reach us about this order:\n    Sam[^\n]*, who manages this "
                         r"order and your account\n", to_carol.stdout),
               "a contact's login is told whom in the house to reach:\n" + to_carol.stdout)
        their_client = run_cli("client", "show", "acme", token=tokens["carol"]).stdout
        house_client = run_cli("client", "show", "acme").stdout
        expect("contact carol:" in their_client and "shared with" not in their_client
               and "created by" not in their_client and "shared with" in house_client,
               "a contact's login sees its client's account and its own entry, not who shares "
               "it or opened it:\n" + their_client + house_client)
        # A revision forwarded to Carol waits for her: her own login reads it as hers.
        asked = api.change("Orders", "CreateOrder", "create_order", commands_pb2.CreateOrder(
            kind=domain_pb2.PRODUCTION, client_id="acme", title="E2E ask :15",
            spot_length_seconds=15, flight_start=domain_pb2.Date(year=2098, month=5, day=1),
            flight_end=domain_pb2.Date(year=2098, month=5, day=31)), sam)
        api.change("Orders", "SubmitRevision", "submit_revision", commands_pb2.SubmitRevision(
            order_id=asked.id, artifact="script", text="Ask Carol"), pete)
        api.change("Orders", "ForwardToClient", "forward_to_client", commands_pb2.ForwardToClient(
            order_id=asked.id, artifact="script", revision=1, contact_id="carol"), sam)
        to_carol = run_cli("order", "show", asked.id, token=tokens["carol"]).stdout
        to_sam = run_cli("order", "show", asked.id).stdout
        expect("waits for your answer on script 1" in to_carol
               and "forwarded to carol\n" not in to_carol,
               "a contact's own login is told the order waits for its answer:\n" + to_carol)
        expect("status Script with the client," in to_carol
               and "script_client_review" not in to_carol
               and "status script_client_review (Script with the client)," in to_sam,
               "a contact reads the status's title, the house its name and title:\n"
               + to_carol + to_sam)
        listed = run_cli("order", "list", token=tokens["carol"]).stdout
        expect("Script with the client" in listed and "script_client_review" not in listed,
               "a contact's order list reads the status's title:\n" + listed)
        expect("1 script revision and 0 spot revisions sent to you; 0 comments" in to_carol,
               "a contact's login is told what was sent to it, and counts only the comments "
               "for the client:\n" + to_carol)
        waits_for = to_sam.split("  waits for:\n")[-1]
        expect("waits for your answer" not in to_sam
               and re.search(r"^    carol .* script 1: client-answer$", waits_for, re.M),
               "the house is told whom it waits for:\n" + to_sam)
        # Once another contact has answered, it no longer waits for Carol, though her view holds
        # only her own forward (not the other's answer).
        ok("another contact", "contact", "add", "acme", "--id", "dana", "--name", "Dana",
           token=sam)
        ok("forwarded on to her", "forward", asked.id, "script", "1", "--contact", "dana",
           token=sam)
        ok("her answer", "client-answer", asked.id, "script", "1", "changes", "--contact", "dana",
           "--comment", "Shorter", token=sam)
        to_carol = run_cli("order", "show", asked.id, token=tokens["carol"]).stdout
        expect("waits for" not in to_carol and "no workflow action is open to you" in to_carol,
               "a contact's login is not asked for an answer another contact gave:\n" + to_carol)
        ok("the contact removed", "contact", "remove", "acme", "dana", token=sam)
        reviews = run_cli("order", "history", order).stdout
        expect(re.search(r"^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  spot r\d+ approved by \w+",
                         reviews, re.M) is not None,
               "order history tells in words, in time order, who approved each revision:\n"
               + reviews)
        # An empty page lists none, not nothing (a script's `.orders[]` reads no order).
        empty_page = run_cli("--json", "order", "list", "--client", "acme", "--status",
                             "spot_approved", "--owner", "otto")
        listed = run_cli("--json", "order", "list", "--client", "acme")
        expect(empty_page.returncode == 0 and json.loads(empty_page.stdout) == {"orders": []}
               and listed.returncode == 0 and len(json.loads(listed.stdout)["orders"]) > 0,
               "order list --json of no order prints an empty list: " + empty_page.stdout
               + empty_page.stderr)
        # So do stats of no order, and their count.
        no_stats = run_cli("--json", "order", "stats", "--since", "2099-01-01")
        stats = json.loads(no_stats.stdout) if no_stats.returncode == 0 else {}
        expect(stats.get("orders") == 0 and stats.get("owners") == [] and stats.get("states") == [],
               "order stats --json of no order prints a count of 0 and empty lists: "
               + no_stats.stdout + no_stats.stderr)
        all_stats = run_cli("--json", "order", "stats")
        rows = json.loads(all_stats.stdout) if all_stats.returncode == 0 else {}
        expect(rows.get("states") and all("orders_now" in s and "stays" in s for s in rows["states"])
               and any(s["orders_now"] == 0 for s in rows["states"])
               and all("completed_orders" in o and "finished" in o for o in rows["owners"]),
               "order stats --json prints every row's figures, zeros too: " + all_stats.stdout
               + all_stats.stderr)
        by_key = run_cli("--json", "order", "show", created.key)
        expect(by_key.returncode == 0 and json.loads(by_key.stdout)["order_id"] == order,
               "spotflow order show finds an order by its key (%s)" % created.key)
        refused = run_cli("approve", order, "spot", "1")
        expect(refused.returncode == 1 and "FAILED_PRECONDITION" in refused.stderr
               and "archived" in refused.stderr,
               "spotflow exits 1 with the server's code and message")

        # Audit from the CLI: a digest to keep, an export re-hashed offline against it, a
        # changed line caught, history, the determinism check; an AE is refused.
        aud = tokens["aud"]
        digest = run_cli("audit", "digest", token=aud)
        expect(digest.returncode == 0 and re.fullmatch(r"\d+:[0-9a-f]{64}\n", digest.stdout),
               "spotflow audit digest prints position:hash")
        digest = digest.stdout.strip()
        kept = run_cli("audit", "verify", "--digest", digest, token=aud)
        expect(kept.returncode == 0 and "extends the digest" in kept.stdout,
               "spotflow audit verify --digest proves the log extends it")
        export_path = os.path.join(data_dir, "export.jsonl")
        exported = run_cli("audit", "export", "--to", digest.split(":")[0], "--out", export_path,
                           token=aud)
        expect(exported.returncode == 0, "spotflow audit export writes JSON Lines")
        # Output that cannot be written is a failure, not a short file that passes for whole.
        full = run_cli("audit", "export", "--out", "/dev/full", token=aud)
        expect(full.returncode == 1 and "could not write /dev/full: No space left on device; "
               "what was written is incomplete" in full.stderr and "exported" not in full.stderr,
               "an export to a full disk fails: " + full.stderr)
        # A file cut short (here by a 1 kB file size limit) is removed, not left to pass for a
        # shorter log.
        import resource

        def small_files():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
        short_path = os.path.join(data_dir, "short.jsonl")
        short = subprocess.run([cli, "--server=127.0.0.1:%d" % port, "--token=" + aud, "audit",
                                "export", "--out", short_path], capture_output=True, text=True,
                               timeout=30, preexec_fn=small_files)
        expect(short.returncode == 1 and "the incomplete file was removed" in short.stderr
               and not os.path.exists(short_path),
               "an export cut short leaves no file behind: " + short.stderr)
        with open("/dev/full", "w") as devfull:
            to_full = subprocess.run([cli, "--server=127.0.0.1:%d" % port, "--token=" + aud,
                                      "audit", "digest"], stdout=devfull,
                                     stderr=subprocess.PIPE, text=True, timeout=30)
        expect(to_full.returncode == 1 and "could not write the output" in to_full.stderr,
               "a digest printed to a full disk fails: " + to_full.stderr)
        with open(export_path) as f:
            lines = f.read().splitlines()
        expect(len(lines) == int(digest.split(":")[0]) and json.loads(lines[0])["position"] == "1",
               "the export holds every record up to the digest")
        offline = subprocess.run([cli, "audit", "verify", "--export", export_path,
                                  "--digest", digest], capture_output=True, text=True, timeout=30)
        expect(offline.returncode == 0 and "which matches" in offline.stdout,
               "the export re-hashes to the digest without server or token: " + offline.stderr)
        altered = [line.replace('"E2E sale :30"', '"E2E sale :60"') for line in lines]
        expect(altered != lines, "the export names the order's title")
        with open(export_path, "w") as f:
            f.write("\n".join(altered) + "\n")
        caught = subprocess.run([cli, "audit", "verify", "--export", export_path,
                                 "--digest", digest], capture_output=True, text=True, timeout=30)
        expect(caught.returncode == 1 and "DATA_LOSS" in caught.stderr and "altered" in caught.stderr,
               "a changed line of an export is caught: " + caught.stderr)
        # events tail --json: the records as the server sent them, but each payload read as
        # the event it is (the export's payload, field for field) and the hashes in hex.
        quoted = 'Say "Müller\\Straße"\n\tthen 漢字'
        ok("a comment to quote", "comment", asked.id, quoted, token=sam)
        upto = api.head(admin)
        tail_lines = run_cli("audit", "export", "--to", str(upto), token=aud).stdout.splitlines()
        tail = run_cli("--json", "events", "tail", "--from", "1", "--limit", str(upto), token=aud)
        tailed = json.loads(tail.stdout)["events"] if tail.returncode == 0 else []
        exported_lines = [json.loads(line) for line in tail_lines]
        expect(len(tailed) == upto
               and [e["hash"] for e in tailed] == [e["hash"] for e in exported_lines]
               and all(e["previous_hash"] == before["hash"]
                       for before, e in zip(tailed, tailed[1:])),
               "events tail --json gives each event's hash in hex, as the export does")
        expect(all(e["payload"] == x["payload"] for e, x in zip(tailed, exported_lines)),
               "events tail --json shows each payload's fields, as the export does")
        said = [e["payload"]["comment_added"]["text"] for e in tailed
                if e["payload_type"] == "spotflow.v1.CommentAdded"]
        expect(said and said[-1] == quoted,
               "events tail --json gives a comment's text as written: %r" % said[-1:])
        pairs = json.loads(tail.stdout, object_pairs_hook=list)
        first = [name for name, _ in pairs[0][1][0]] if pairs and pairs[0][0] == "events" else []
        expect(first[:3] == ["position", "stream_id", "stream_version"],
               "events tail --json keeps the record's fields in their order: %s" % first)
        creations = [e["payload"]["order_created"] for e in tailed
                     if e["payload_type"] == "spotflow.v1.OrderCreated"
                     and e["payload"]["order_created"]["order_id"] == order]
        expect(len(creations) == 1 and creations[0]["title"] == "E2E sale :30"
               and type(creations[0]["spot_length_seconds"]) is int
               and creations[0]["spot_length_seconds"] == 30,
               "a created order's title and length read as written: %s" % creations)
        one_order = run_cli("audit", "export", "--order", created.key, token=aud)
        streams = {json.loads(line)["stream"] for line in one_order.stdout.splitlines()}
        expect(one_order.returncode == 0 and streams == {"order-" + order},
               "audit export --order KEY exports that order's events only (%s)" % streams)
        expect("a filtered export: check it with `spotflow audit verify --export FILE "
               "--filtered`" in one_order.stderr,
               "a filtered export says how to check it: " + one_order.stderr)
        filtered_path = os.path.join(data_dir, "filtered.jsonl")
        with open(filtered_path, "w") as f:  # Positions 1 to 5, then 7 to 10.
            f.write("\n".join(tail_lines[:5] + tail_lines[6:10]) + "\n")
        checked = subprocess.run([cli, "audit", "verify", "--export", filtered_path,
                                  "--filtered"], capture_output=True, text=True, timeout=30)
        expect(checked.returncode == 0 and "(filtered): each line hashes correctly, and links "
               "to the line before it where their positions follow on; what was filtered out "
               "between them is not checked" in checked.stdout,
               "a filtered export's check says what it proves: " + checked.stdout + checked.stderr)
        later = run_cli("audit", "export", "--since", "2099-01-01", token=aud)
        expect(later.returncode == 0 and not later.stdout
               and "no events match (the export is empty)" in later.stderr,
               "an export that matches nothing says so: " + later.stderr)
        nothing = run_cli("audit", "export", "--order", "PO-1999-00001", token=aud)
        expect(nothing.returncode == 1 and "NOT_FOUND" in nothing.stderr and not nothing.stdout,
               "audit export of an order the log lacks is NOT_FOUND, not an empty export: "
               + nothing.stderr)
        replayed = run_cli("audit", "replay", "client", "acme", "--position", digest.split(":")[0],
                           token=aud)
        expect(replayed.returncode == 0 and replayed.stdout.startswith("acme  Acme Motors")
               and "contact carol" in replayed.stdout
               and replayed.stdout.endswith("(as it was at position %s, rebuilt from the log)\n"
                                            % digest.split(":")[0]),
               "audit replay client prints the client as client show does (%s)"
               % replayed.stdout[:60])
        history = run_cli("audit", "history", "order", order, token=aud)
        expect(history.returncode == 0 and ": OrderCreated" in history.stdout
               and "status:" in history.stdout, "spotflow audit history lists field changes")
        check = run_cli("audit", "replay", "check", token=aud)
        expect(check.returncode == 0 and "matches the live ones" in check.stdout,
               "spotflow audit replay check passes")
        denied = run_cli("audit", "verify", token=sam)
        expect(denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr,
               "an AE may not audit")

        # The CLI checks its command line against each verb's usage before sending anything:
        # a word too many, another verb's option, an unknown verb are usage errors (exit 2)
        # that write nothing, and --help works anywhere.
        before = api.head(admin)
        for args, says, what in [
                (("comment", "weekly-deals", "Please", "call", "them"), "put text with spaces in quotes",
                 "extra words are refused, not dropped"),
                (("approve", "spring-launch", "script", "1", "--text", "x"),
                 "--text is not an option of approve", "another verb's option is refused"),
                (("share", "spring-launch", "ann", "otto"), "share takes 2 arguments, not 3",
                 "a second user to share with is refused, not ignored"),
                (("deliver", "spring-launch", "--bogus"), "--bogus is not an option of deliver",
                 "an unknown option given last is not an option, not one needing a value"),
                (("flight", "request", "spring-launch", "--flight", "..2099-01-31"),
                 "START..END with both dates", "a flight with one date says both are needed"),
                (("order", "list", "--status"), "--status needs a value",
                 "a known option given last needs its value"),
                (("order", "shw", "spring-launch"), "order takes: create, show",
                 "a misspelt verb names the right ones"),
                (("approve", "spring-launch", "spot", "99999999999999"),
                 "the revision is at most 4294967295: not 99999999999999",
                 "a number past its bound is told the bound"),
                (("order", "lst"), 'unknown verb "order lst"; did you mean "order list"? '
                 "(order takes: create, show", "a misspelt second word suggests the one meant"),
                (("order", "list", "--stauts", "x"), "--stauts is not an option of order list; "
                 "did you mean --status? (it takes --status,", "a misspelt option suggests one"),
                (("ordr", "list"), 'unknown verb "ordr"; did you mean "order"?',
                 "a misspelt verb suggests the one meant"),
                (("order", "create", "--title", "Radio", "--field", "value=5"),
                 'a field of production_order: contract_number, station; not "value=5"',
                 "a field the default type lacks is named first (was --type left out?)"),
                (("order", "create", "--title", "Radio"),
                 "spotflow: missing --client: type production_order (the default: give --type "
                 "for another; spotflow type list lists them) is made on a client's "
                 "account\nusage: spotflow order create --title TEXT [--client ID]",
                 "a missing option shows the verb's usage"),
                (("user", "create", "dave", "--name", "Dave", "--role", "client_contact",
                  "--client", "acme"), "takes both --client and --contact",
                 "a contact's login needs both its client and contact"),
                (("help", "nosuch"), 'unknown verb "nosuch"', "help for an unknown verb says so"),
                (("audit", "replay", "check", "extra"), "takes nothing more",
                 "audit replay check refuses what it would ignore"),
                (("order", "list", "--queue=maybe"), "is on or off", "a flag is on or off"),
                (("spot", "upload", "winter-sale", "--uri", "s3://x/y.wav", "--duration-ms", "-5"),
                 '--duration-ms is a whole number, 0 or more: not "-5"',
                 "a negative number is refused as one"),
                (("events", "tail", "--limit", "0"), "at least 1", "a tail of nothing is refused"),
                (("order", "list", "--limit", "0"), "at least 1", "so is a list of nothing"),
                (("order", "update", "winter-sale", "--length", "0"), "1 or more",
                 "a spot of no length is refused, not taken to clear the length"),
                (("client-answer", "winter-sale", "script", "1", "changes"), "needs --comment",
                 "changes a client wants say what they are, as `changes` does"),
                (("client", "create", "--name", b"Caf\xe9"),
                 "is not UTF-8 text", "an argument in Latin-1 is refused before it is sent"),
                (("order", "reuse", "spring-launch"), "needs --flight",
                 "a reused order books its own flight")]:
            result = run_cli(*args, token=admin)
            expect(result.returncode == 2 and says in result.stderr,
                   "%s: %s" % (what, result.stderr.splitlines()[0] if result.stderr else "-"))
        expect(api.head(admin) == before, "usage errors wrote nothing")
        for args, says in [(("approve", "--help"), "usage: spotflow approve ORDER script|spot N"),
                           (("help", "order"), "order list [--status S[,S...]]"),
                           (("--help",), "verbs:"), (("order", "list", "-h"), "--archived")]:
            result = subprocess.run([cli] + list(args), capture_output=True, text=True, timeout=30)
            expect(result.returncode == 0 and says in result.stdout,
                   "spotflow %s prints its usage" % " ".join(args))
        # Every verb the help lists is one the CLI carries out: given as many arguments as it
        # takes, none falls through to "unknown verb" (a client contact's token, so that
        # nothing is written).
        verbs = []
        for line in subprocess.run([cli, "help"], capture_output=True, text=True).stdout.splitlines():
            found = re.match(r"  ([a-z-]+(?: [a-z-]+)?)(?: |$)", line)
            if found and found.group(1) not in [v for v in verbs]:
                words = found.group(1).split(" ")
                if len(words) == 2 and not re.match(r"  \S+ \S+( |$)", line):
                    continue
                verbs.append(found.group(1))
        expect(len(verbs) >= 50, "spotflow help lists %d verbs" % len(verbs))
        before = api.head(admin)
        for verb in verbs:
            for count in range(0, 5):
                result = run_cli(*(verb.split(" ") + ["x"] * count), token=tokens["carol"])
                if "argument" not in result.stderr or "takes" not in result.stderr:
                    break
            expect(result.returncode in (0, 1, 2) and "unknown verb" not in result.stderr,
                   "spotflow %s is carried out (%s)" % (
                       verb, (result.stderr or result.stdout).strip().splitlines()[0][:70]
                       if (result.stderr or result.stdout).strip() else "no output"))
        expect(api.head(admin) == before, "a client contact's stray verbs wrote nothing")
        # The administration and account verbs do what they say.
        ok("order update --title", "order", "update", "winter-sale", "--title",
           "Winter clearance :30", "--instructions", "Use the jingle", token=sam)
        # The item type's own fields, by name, each of its type.
        ok("order update --field", "order", "update", "winter-sale", "--field", "station=WXYZ",
           "--field", "contract_number=C-77", token=sam)
        shown = run_cli("order", "show", "winter-sale", token=sam).stdout
        expect("fields: contract_number C-77, station WXYZ" in shown,
               "order show lists the fields set:\n" + shown)
        typo = run_cli("order", "update", "winter-sale", "--field", "statoin=KABC", token=sam)
        expect(typo.returncode == 2 and "contract_number, station" in typo.stderr,
               "a field the type does not have names those it has: " + typo.stderr.strip())
        expect(api.order("winter-sale", sam).title == "Winter clearance :30", "the title changed")
        requested = run_cli("flight", "request", "winter-sale", "--flight",
                            "2098-12-05..2098-12-31", token=sam)
        expect("(flight change " in requested.stdout,
               "flight request says which flight change it made: " + requested.stdout)
        request_id = requested.stdout.split("(flight change ")[-1].split(")")[0]
        ok("flight withdraw", "flight", "withdraw", "winter-sale", request_id, "--comment",
           "dates stay", token=sam)
        changes = api.order("winter-sale", sam).flight_changes
        expect(changes and changes[-1].status == domain_pb2.WITHDRAWN
               and "withdrawn by sam" in run_cli("order", "history", "winter-sale").stdout,
               "flight withdraw takes a pending request back, and history says so (%s)"
               % requested.stdout.strip())
        story = run_cli("order", "history", "winter-sale").stdout
        requested_at = story.find("flight change %s requested by sam" % request_id)
        withdrawn_at = story.find("flight change %s withdrawn by sam" % request_id)
        expect(0 <= requested_at < withdrawn_at,
               "order history tells the request before its withdrawal:\n" + story)
        expect(re.search(r"  updated by sam: title \"[^\n]*\" -> \"Winter clearance :30\"; "
                         r"instructions [^\n]*\"Use the jingle\"\n", story)
               and re.search(r"  updated by sam: (\S+ set to \"\S+\"; )?station set to "
                             r"\"WXYZ\"", story)
               and "contract_number set to \"C-77\"" in story,
               "order history tells each update, a field by its name:\n" + story)
        # A field given blank is cleared, and given again.
        ok("order update --field contract_number=", "order", "update", "winter-sale", "--field",
           "contract_number=", token=sam)
        cleared = run_cli("order", "show", "winter-sale", token=sam).stdout
        expect("fields: station WXYZ\n" in cleared and "contract_number" not in cleared,
               "a field given blank is cleared:\n" + cleared)
        ok("contract_number again", "order", "update", "winter-sale", "--field",
           "contract_number=C-77", token=sam)
        expect("last flight change %s by sam (2098-12-05..2098-12-31): withdrawn by sam"
               % request_id in run_cli("order", "show", "winter-sale").stdout,
               "order show tells how the last flight change ended")
        history = run_cli("order", "history", "winter-sale", token=sam).stdout
        expect("every change:" in history
               and 'title: "Winter sales event :30" -> "Winter clearance :30"' in history,
               "order history shows the AE every change with old and new, such as the title: "
               + history[-300:])
        winter_key = api.order("winter-sale", sam).key
        ok("comment on an order named by its key", "comment", winter_key, "Filed under its PO",
           token=sam)
        expect(any(c.text == "Filed under its PO" for c in api.order("winter-sale", sam).comments),
               "the comment went to %s, the order whose key it is" % winter_key)
        archived = run_cli("order", "show", "holiday-hours", token=sam).stdout
        holiday_key = api.order("holiday-hours", sam).key
        expect("archived: no workflow action is open on it; whoever manages it may reopen it "
               "(spotflow restore %s)" % holiday_key in archived and "or start a new order with "
               "its approved spot (spotflow order reuse %s --flight START..END)" % holiday_key
               in archived,
               "order show says what an archived order is open to:\n" + archived)
        ok("order reuse (of an archived order)", "order", "reuse", "holiday-hours", "--id",
           "winter-again", "--flight", "2099-12-01..2099-12-31", token=sam)
        again = api.order("winter-again", sam)
        expect(again.title == "Holiday hours :10" and again.flight_start.year == 2099,
               "the reused order starts like its source, on the new flight")
        # Whose order it is, when not the account's owner's: a manager's to say (--owner).
        before = api.head(admin)
        not_sams = run_cli("order", "create", "--title", "For Ann", "--client", "acme",
                           "--flight", "2099-11-01..2099-11-30", "--owner", "ann", token=sam)
        expect(not_sams.returncode == 1 and "PERMISSION_DENIED" in not_sams.stderr
               and "leave owner_id (--owner) out" in not_sams.stderr
               and api.head(admin) == before,
               "an AE may not make another the owner of an order on their account, writing "
               "nothing: " + not_sams.stderr)
        ok("a manager makes another the order's owner", "order", "create", "--title", "For Ann",
           "--client", "acme", "--flight", "2099-11-01..2099-11-30", "--owner", "ann", "--id",
           "for-ann", token=mia)
        expect(api.order("for-ann", mia).owner_id == "ann", "order create --owner sets the owner")
        for_ann_key = api.order("for-ann", mia).key
        ok("and deletes it again", "delete", "for-ann", "--yes", token=mia)
        # The log names it as everything else does, by its key, though it is deleted.
        told = run_cli("events", "tail", "--limit", "3", token=aud)
        expect(told.returncode == 0 and "order-for-ann" not in told.stdout
               and "order " + for_ann_key in told.stdout,
               "events tail names a deleted order by its key: " + told.stdout + told.stderr)
        reused = run_cli("order", "show", "winter-again", token=sam).stdout
        expect(", reusing order %s\n" % holiday_key in reused,
               "order show names the source by its key:\n" + reused)
        expect(re.search(r"spot r1 by pete, [^\n]*\[reused by sam\]", reused)
               and re.search(r"approval carried over from the reused order when sam reused it: "
                             r"approved by \w+ as spot revision 1 of order %s" % holiday_key,
                             reused),
               "a reused spot is still who recorded it and whose approval it stands on:\n"
               + reused)
        # A dry run of any change: what it would do, and nothing written.
        dry = run_cli("archive", "winter-again", "--dry-run", token=sam)
        expect(dry.returncode == 0 and "dry run: the change would be made" in dry.stdout
               and "it would change: order %s\n" % again.key in dry.stdout
               and not api.order("winter-again", sam).archived,
               "archive --dry-run says what it would change and archives nothing: " + dry.stdout)
        dry = run_cli("client", "create", "--id", "dry-co", "--name", "Dry Co", "--dry-run",
                      token=sam)
        expect(dry.returncode == 0 and "it would change: a new client" in dry.stdout
               and "NOT_FOUND" in run_cli("client", "show", "dry-co", token=sam).stderr,
               "client create --dry-run creates nothing: " + dry.stdout)
        ok("share then unshare an order", "share", "winter-again", "otto", token=sam)
        ok("unshare", "unshare", "winter-again", "otto", token=sam)
        expect("otto" not in api.order("winter-again", sam).participants, "otto no longer shares it")
        told = run_cli("order", "history", "winter-again", token=sam).stdout
        expect(0 <= told.find("shared with otto by sam") < told.find("unshared from otto by sam"),
               "order history tells the share and its end, in that order:\n" + told)
        ok("client update", "client", "update", "acme", "--name", "Acme Motors Inc", token=sam)
        # Tables stay in line with long ids and names outside ASCII.
        ok("client create", "client", "create", "--id", "a-client-id-of-thirty-two-chars-", "--name",
           "Ünïcødé Fahrräder — Zürich", token=sam)
        listed = run_cli("client", "list", token=sam).stdout.splitlines()
        expect(len(listed) >= 3 and len({line.index(" sam") for line in listed[1:]}) == 1
               and listed[0].index("OWNER") == listed[1].index(" sam") + 1,
               "client list keeps its columns in line:\n" + "\n".join(listed))
        ok("a client's kind", "client", "update", "a-client-id-of-thirty-two-chars-", "--kind",
           "Agency", token=sam)
        agencies = run_cli("client", "list", "--kind", "agency ", "--owner", "sam",
                           token=sam).stdout.splitlines()
        expect(len(agencies) == 2 and agencies[0].split() == ["ID", "NAME", "KIND", "OWNER"]
               and agencies[1].startswith("a-client-id-of-thirty-two-chars- ")
               and agencies[1].split()[-2:] == ["Agency", "sam"],
               "client list --kind lists an audience, as people type it:\n" + "\n".join(agencies))
        expect(run_cli("client", "list", "--kind", "nosuch", token=sam).stdout
               == "(no clients you can see that match)\n", "no client of a kind")
        ok("client share", "client", "share", "acme", "otto", "--until", "2030-01-01T00:00:00Z",
           token=sam)
        ok("client unshare", "client", "unshare", "acme", "otto", token=sam)
        ok("client share --until a date", "client", "share", "acme", "otto", "--until",
           "2030-01-01", token=sam)
        until = api.call("Clients", "GetClient", service_pb2.GetClientRequest(client_id="acme"),
                         domain_pb2.ClientView, sam)
        expect([s.until.seconds for s in until.shares if s.user_id == "otto"] == [1893456000],
               "a date alone is its start in UTC: %s" % until.shares)
        ok("client unshare", "client", "unshare", "acme", "otto", token=sam)
        bad_time = run_cli("client", "share", "acme", "otto", "--until", "next friday", token=sam)
        expect(bad_time.returncode == 2 and "or a date (2026-11-23" in bad_time.stderr,
               "a time that is neither says what it takes: " + bad_time.stderr)
        ok("contact update", "contact", "update", "acme", "carol", "--name", "Carol Jones",
           "--email", "carol@acme.test", "--title", "Marketing director", token=sam)
        ok("contact update --phone alone", "contact", "update", "acme", "carol", "--phone",
           "555-0199", token=sam)
        shown = run_cli("client", "show", "acme", token=sam).stdout
        expect("contact carol: Carol Jones, Marketing director, carol@acme.test, 555-0199 "
               "(signs in as carol)" in shown,
               "client show shows a contact's name, title, email and phone (%s)" % shown.strip())
        nothing = run_cli("contact", "update", "acme", "carol", token=sam)
        expect(nothing.returncode == 2 and "give at least one" in nothing.stderr,
               "contact update without a field is a usage error")
        ok("contact add", "contact", "add", "acme", "--id", "temp", "--name", "Temp", token=sam)
        ok("a login for the contact", "user", "create", "temp-login", "--name", "Temp at Acme",
           "--role", "client_contact", "--client", "acme", "--contact", "temp")
        before = api.head(admin)
        unasked = run_cli("contact", "remove", "acme", "temp", token=sam)
        expect(unasked.returncode == 2 and "Removing contact temp deactivates the login "
               "temp-login, which only an administrator can reactivate: add --yes" in
               unasked.stderr and api.head(admin) == before,
               "removing a contact with a login asks first (a script: --yes), writing nothing: "
               + unasked.stderr)
        previewed = run_cli("contact", "remove", "acme", "temp", "--dry-run", token=sam)
        expect(previewed.returncode == 0 and "the login temp-login would be deactivated with "
               "it; without --dry-run you are asked first (--yes to go ahead unasked)"
               in previewed.stdout and api.head(admin) == before,
               "contact remove --dry-run says the login would end and that the removal asks: "
               + previewed.stdout + previewed.stderr)
        removed = run_cli("contact", "remove", "acme", "temp", "--yes", token=sam)
        expect(removed.returncode == 0 and "the login temp-login was deactivated with it"
               in removed.stdout and "spotflow contact add acme --id temp --name NAME"
               in removed.stdout, "contact remove says which login ended with the contact, and "
               "how to bring it back: " + removed.stdout.strip())
        # Its way back works as told: the contact under its id, then the login.
        ok("contact add again under its id", "contact", "add", "acme", "--id", "temp", "--name",
           "Temp", token=sam)
        ok("the login reactivated", "user", "reactivate", "temp-login")
        ok("contact remove again", "contact", "remove", "acme", "temp", "--yes", token=sam)
        client = api.call("Clients", "GetClient", service_pb2.GetClientRequest(client_id="acme"),
                          domain_pb2.ClientView, sam)
        expect(client.name == "Acme Motors Inc" and [c.contact_id for c in client.contacts] == ["carol"]
               and client.contacts[0].email == "carol@acme.test"
               and client.contacts[0].phone == "555-0199"
               and client.contacts[0].title == "Marketing director",
               "the client's name and contacts are what the verbs set; --phone alone kept the rest")
        ok("user roles", "user", "roles", "otto", "order_entry,sales_assistant")
        # Seed 001: a client submits a request through its own login, given the role to.
        carol = tokens["carol"]
        refused = run_cli("order", "create", "--title", "Spring promo", "--flight",
                          "2099-03-01..2099-03-31", "--field", "station=KABC", token=carol)
        expect(refused.returncode == 1 and "may not submit requests" in refused.stderr
               and "the client_requester role" in refused.stderr,
               "a contact's login without the role submits nothing, and is told whom to ask: "
               + refused.stderr)
        ok("a contact's login may submit requests", "user", "roles", "carol", "client_requester")
        me = run_cli("user", "show", token=carol).stdout
        expect(me.startswith("carol ") and "speaks for contact carol of client acme" in me,
               "user show without a user shows whom the token speaks for:\n" + me)
        form = api.call("Admin", "GetItemType", service_pb2.GetItemTypeRequest(
            name="production_order"), domain_pb2.ItemTypeDefinition, carol)
        expect(form.facets.schedule and "station" in [f.name for f in form.fields]
               and form.workflow == "" and form.key_format == "",
               "a requester reads the form it fills in, not how the house works it: %s" % form)
        undated = run_cli("order", "create", "--title", "Spring promo", token=carol)
        expect(undated.returncode == 2 and "missing --flight" in undated.stderr,
               "a requester is asked for the flight its form has: " + undated.stderr)
        asked = run_cli("order", "create", "--title", "Spring promo", "--flight",
                        "2099-03-01..2099-03-31", "--field", "station=KABC", token=carol)
        expect(asked.returncode == 0 and asked.stdout.startswith("ok: PO-"),
               "a client's login submits a request for its company, naming no client: "
               + asked.stdout + asked.stderr)
        key = asked.stdout.split()[1]
        theirs = api.order(key, sam)
        expect(theirs.client_id == "acme" and theirs.owner_id == "sam"
               and theirs.created_by == "carol" and theirs.fields["station"].string_value == "KABC",
               "the request is acme's, its account owner's, made by carol's login, as filled in")
        shown = run_cli("order", "show", key, token=carol).stdout
        expect("status Awaiting script," in shown,
               "the client consults the status of its request:\n" + shown)
        # The house tells the client how it goes; its own notes stay its own.
        ok("a comment for the client", "comment", key, "In the works, ETA Friday", "--for-client",
           token=sam)
        ok("a note of the house's", "comment", key, "internal: rush fee?", token=sam)
        told = run_cli("order", "show", key, token=carol).stdout
        expect("latest comment by sam, " in told and ": In the works, ETA Friday" in told
               and "rush fee" not in told,
               "the client reads the comment for it, not the house's note:\n" + told)
        ok("the client answers on its request", "comment", key, "Great, thanks", token=carol)
        expect(": Great, thanks" in run_cli("order", "show", key, token=sam).stdout,
               "the house reads the client's comment")
        # Done, and told what the house said, not who in the house said it.
        ok("script for the request", "script", "submit", key, "--text", "Spring!", token=pete)
        ok("script approved", "approve", key, "script", "1", token=sam)
        ok("spot for the request", "spot", "upload", key, "--uri", "s3://spots/spring.wav",
           token=pete)
        ok("spot approved", "approve", key, "spot", "1", token=sam)
        ok("request delivered", "deliver", key, "--comment", "Airs from Monday", token=pete)
        shown = run_cli("order", "show", key, token=carol).stdout
        expect("\n  deliver, " in shown and ": Airs from Monday" in shown and "pete" not in shown,
               "the client reads what the house said when it finished its request:\n" + shown)
        way = run_cli("order", "history", key, token=carol).stdout
        expect("deliver: Completed: Airs from Monday" in way and "status:" not in way
               and "pete" not in way,
               "a production order's states, which would tell of internal reviews, are not "
               "in the client's history of its request:\n" + way)
        # A delete cannot be undone: the CLI asks first, or a script says --yes.
        doomed = run_cli("order", "create", "--client", "acme", "--title", "Doomed", "--flight",
                         "2099-01-01..2099-01-02", token=sam)
        dkey = doomed.stdout.split()[1]
        unasked = run_cli("delete", dkey, token=sam)
        expect(unasked.returncode == 2 and "cannot be undone: add --yes" in unasked.stderr
               and api.order(dkey, sam).key == dkey,
               "a delete without a terminal to ask on needs --yes, and deletes nothing: "
               + unasked.stderr)
        # On a terminal (the question on stderr, the answer on stdin), "n" keeps the order.
        leader, follower = pty.openpty()
        try:
            os.write(leader, b"n\n")
            declined = subprocess.run([cli, "--server=127.0.0.1:%d" % port, "--token=" + sam,
                                       "delete", dkey], stdin=follower, stderr=follower,
                                      stdout=subprocess.PIPE, timeout=30)
            said = b""
            while select.select([leader], [], [], 0.2)[0]:
                chunk = os.read(leader, 4096)
                if not chunk:
                    break
                said += chunk
            said = said.decode(errors="replace")
        finally:
            os.close(follower)
            os.close(leader)
        expect(declined.returncode == 1 and "Deleting order %s cannot be undone. Go ahead? [y/N]"
               % dkey in said and "nothing changed" in said and api.order(dkey, sam).key == dkey,
               "asked on a terminal, no keeps the order: %r" % said)
        ok("delete --yes", "delete", dkey, "--yes", token=sam)
        ok("back to a contact's role", "user", "roles", "carol", "client_contact")
        ok("user manager", "user", "manager", "otto", "mia")
        ok("user deactivate", "user", "deactivate", "otto")
        gone = run_cli("user", "deactivate", "sam", token=admin)
        expect(gone.returncode == 0 and "sam still owns" in gone.stdout and "clients (" in gone.stdout
               and "spotflow accounts reassign sam USER" in gone.stdout,
               "deactivating an AE says what they still own and how to move it: " + gone.stdout)
        to_carol = run_cli("order", "show", order, token=tokens["carol"]).stdout
        expect(re.search(r"\n  to reach us about this order:\n    Mia[^\n]*, who manages this "
                         r"order and your account \(in place of Sam[^\n]*, who has left\)\n",
                         to_carol),
               "once sam has left, a contact's login is told to reach his manager in his "
               "place:\n" + to_carol)
        ok("user reactivate", "user", "reactivate", "sam")
        shown = run_cli("user", "show", "otto", token=admin).stdout
        expect("(deactivated)" in shown and "order_entry, sales_assistant" in shown
               and "manager mia" in shown, "user show shows roles, manager and deactivation")
        team = run_cli("user", "show", "mia", token=admin).stdout
        expect(re.search(r"\n  manages (.*, )?otto \(deactivated\), (.*, )?sam(, .*)?\n", team),
               "user show names whom a manager manages:\n" + team)
        for user in ("admin", "otto", "carol"):
            shown = run_cli("user", "show", user, token=admin).stdout
            expect("1 token issued" in shown,
                   "the token spotflowd printed for %s at the first start is in the log (%s)"
                   % (user, shown.strip().splitlines()[-1]))
        ok("user reactivate", "user", "reactivate", "otto")
        # Roles, workflows and item types from the CLI; a definition shown as JSON publishes.
        ok("role define", "role", "define", "traffic", "--title", "Traffic", "--grant",
           "order_view:all, spot_upload:all")
        traffic = [line for line in run_cli("role", "list", token=admin).stdout.splitlines()
                   if line.startswith("traffic ")]
        expect(len(traffic) == 1
               and traffic[0].split()[1:] == ["Traffic", "ORDER_VIEW:ALL", "SPOT_UPLOAD:ALL"],
               "role list shows the new role's title and grants (%s)" % traffic)
        ok("role define again, without --title", "role", "define", "traffic", "--grant",
           "order_view:all")
        traffic = [line for line in run_cli("role", "list", token=admin).stdout.splitlines()
                   if line.startswith("traffic ")]
        expect(len(traffic) == 1 and traffic[0].split()[1:] == ["Traffic", "ORDER_VIEW:ALL"],
               "defining a role again replaces its grants and keeps its title (%s)" % traffic)
        bad = run_cli("role", "define", "x", "--grant", "order_view:everything", token=admin)
        expect(bad.returncode == 2 and "scopes: OWN, TEAM, ALL" in bad.stderr,
               "a grant that is not PRIVILEGE:SCOPE names what is (%s)" % bad.stderr.strip())
        for what, name in (("workflow", "production_order"), ("type", "production_order")):
            shown = run_cli("--json", what, "show", name, token=admin)
            definition = json.loads(shown.stdout)
            definition["title" if what == "type" else "states"] = (
                "Spot production" if what == "type"
                else [dict(s, title=s["title"] + " (v2)") for s in definition["states"]])
            path = os.path.join(data_dir, what + ".json")
            with open(path, "w") as out:
                json.dump(definition, out)
            ok(what + " publish", what, "publish" if what == "workflow" else "define", path)
            again = run_cli(what, "show", name, token=admin).stdout
            expect("version 2" in again and ("Spot production" in again if what == "type"
                                             else "Awaiting script (v2)" in again),
                   "%s show gives the definition just published:\n%s" % (what, again))
            # The same definition again (as show prints it now) changes nothing, and says so.
            with open(path, "w") as out:
                out.write(run_cli("--json", what, "show", name, token=admin).stdout)
            same = run_cli(what, "publish" if what == "workflow" else "define", path, token=admin)
            expect(same.returncode == 0 and "(already so: nothing changed)" in same.stdout,
                   "%s: the same definition again says nothing changed: %s" % (what, same.stdout))
        misspelt = os.path.join(data_dir, "misspelt.json")
        with open(misspelt, "w") as out:
            json.dump({"name": "x", "key_format": "X-{seq:3}", "workflow": "production_order",
                       "fields": [{"name": "n", "type": "INT"}]}, out)
        wrong = run_cli("type", "define", misspelt, token=admin)
        expect(wrong.returncode == 1
               and "FieldType is one of STRING, INTEGER, BOOLEAN, DATE" in wrong.stderr,
               "a misspelt enum value in a definition names the values there are: "
               + wrong.stderr)
        # A new item type, then an order of it.
        media = os.path.join(data_dir, "media.json")
        with open(media, "w") as out:
            json.dump({"name": "media_request", "title": "Media request",
                       "key_format": "MR-{seq:4}", "workflow": "production_order",
                       "facets": {"artifacts": ["spot"], "schedule": True, "client_link": True},
                       "fields": [{"name": "budget", "type": "INTEGER", "required": True}]}, out)
        ok("type define", "type", "define", media)
        listed = run_cli("type", "list", token=sam)
        rows = [line.split() for line in listed.stdout.splitlines()]
        expect(listed.returncode == 0 and [r[0] for r in rows[1:3]]
               == ["media_request", "production_order"]
               and "MR-{seq:4}" in rows[1] and "budget*" in rows[1],
               "type list lists the item types by name, with keys and fields:\n" + listed.stdout)
        flows = run_cli("workflow", "list", token=sam)
        expect(flows.returncode == 0 and flows.stdout.splitlines()[1].startswith("production_order ")
               and flows.stdout.rstrip().endswith("completed  media_request, production_order"),
               "workflow list names each workflow's final states and the types that follow it:\n"
               + flows.stdout)
        kept_out = run_cli("workflow", "list", token=tokens["carol"])
        expect(kept_out.returncode == 1 and "PERMISSION_DENIED" in kept_out.stderr,
               "a contact's login lists no workflow: " + kept_out.stderr)
        # A request workflow whose decline is taken only with a reason (seed 002).
        flow = json.loads(run_cli("--json", "workflow", "show", "production_order",
                                  token=admin).stdout)
        flow["name"] = "request_flow"
        flow.pop("version", None)
        # Declined, a request ends undone: its orders are left out of budgets.
        flow["states"].append({"name": "declined", "title": "Declined", "terminal": True,
                               "abandoned": True})
        flow["transitions"].append({"from": "awaiting_script", "action": "decline",
                                    "to": "declined", "privilege": "REVISION_APPROVE",
                                    "conditions": ["COMMENT_GIVEN"]})
        flow_path = os.path.join(data_dir, "request_flow.json")
        with open(flow_path, "w") as out:
            json.dump(flow, out)
        ok("workflow publish with a decline that needs a reason", "workflow", "publish", flow_path)
        request_type = dict(json.loads(run_cli("--json", "type", "show", "production_order",
                                               token=admin).stdout),
                            name="ad_request", key_format="AR-{seq:3}", workflow="request_flow")
        request_type.pop("version", None)
        request_type["fields"].append({"name": "value", "type": "INTEGER"})  # A deal's worth.
        type_path = os.path.join(data_dir, "ad_request.json")
        with open(type_path, "w") as out:
            json.dump(request_type, out)
        ok("type define on it", "type", "define", type_path)
        asked = run_cli("order", "create", "--type", "ad_request", "--client", "acme", "--title",
                        "Banner", "--flight", "2099-02-01..2099-02-02", token=sam)
        akey = asked.stdout.split()[1]
        offered = run_cli("order", "show", akey, token=sam).stdout
        expect(re.search(r"decline +spotflow action %s decline --comment TEXT" % akey, offered),
               "order show says the decline takes a comment:\n" + offered)
        bare = run_cli("action", akey, "decline", token=sam)
        expect(bare.returncode == 1 and "INVALID_ARGUMENT" in bare.stderr
               and "with a comment saying why" in bare.stderr,
               "a decline without a reason is refused: " + bare.stderr)
        ok("decline with a reason", "action", akey, "decline", "--comment", "No budget", token=sam)
        shown_flow = run_cli("workflow", "show", "request_flow", token=admin).stdout
        expect(re.search(r"\ndeclined +Declined +\(final, abandoned: the work ends undone\)\n",
                         shown_flow),
               "workflow show marks the state where orders end undone:\n" + shown_flow)
        # A later version asks the decline for a field (a lost deal's reason), which the step
        # may set as it is taken. Orders made before keep the version they started under.
        flow["transitions"][-1]["requiredFields"] = ["station"]
        for transition in flow["transitions"]:  # The producer needs it too, to write for it.
            if transition["action"] == "submit_script":
                transition["requiredFields"] = ["station"]
        with open(flow_path, "w") as out:
            json.dump(flow, out)
        ok("workflow publish with a decline that needs a field", "workflow", "publish", flow_path)
        shown_flow = run_cli("workflow", "show", "request_flow", token=admin).stdout
        expect(re.search(r"\nawaiting_script +decline +declined +REVISION_APPROVE, COMMENT_GIVEN, "
                         r"field station\n", shown_flow),
               "workflow show names the field the decline needs:\n" + shown_flow)
        asked_again = run_cli("order", "create", "--type", "ad_request", "--client", "acme",
                              "--title", "Skyscraper", "--flight", "2099-02-01..2099-02-02",
                              token=sam)
        again_key = asked_again.stdout.split()[1]
        offered = run_cli("order", "show", again_key, token=sam).stdout
        expect(re.search(r"decline +spotflow action %s decline --comment TEXT --field "
                         r"station=VALUE\n" % again_key, offered),
               "order show says the decline needs the field:\n" + offered)
        for_pete = run_cli("order", "show", again_key, token=pete).stdout
        expect(re.search(r"submit_script +spotflow script submit %s --text TEXT\n +after whoever "
                         r"manages it \(sam\) fills in station\n" % again_key, for_pete),
               "order show tells a producer who fills in the field a step needs:\n" + for_pete)
        before = api.head(admin)
        unfilled = run_cli("script", "submit", again_key, "--text", "Draft", token=pete)
        expect(unfilled.returncode == 1 and "you may not fill it in (ORDER_MANAGE): ask whoever "
               "manages the order (its owner, sam)" in unfilled.stderr,
               "a producer is told whom to ask for the field: " + unfilled.stderr)
        fieldless = run_cli("action", again_key, "decline", "--comment", "Booked elsewhere",
                            token=sam)
        expect(fieldless.returncode == 1 and "FAILED_PRECONDITION" in fieldless.stderr
               and "requires field station" in fieldless.stderr
               and "--field station=VALUE" in fieldless.stderr,
               "a decline without its field is refused: " + fieldless.stderr)
        expect(api.head(admin) == before, "the refused decline wrote nothing")
        ok("decline with a field set by the step", "action", again_key, "decline", "--comment",
           "Booked elsewhere", "--field", "station=WXYZ", "--field", "value=5000", token=sam)
        declined_again = run_cli("order", "show", again_key, token=sam).stdout
        expect("fields: station WXYZ" in declined_again and "status declined" in declined_again,
               "the step set the field:\n" + declined_again)
        ended = run_cli("order", "show", akey, token=sam).stdout
        expect(", status declined (final, abandoned), " in ended,
               "order show says the request ended undone:\n" + ended)
        theirs = run_cli("order", "show", akey, token=tokens["carol"])
        expect(theirs.returncode == 0 and "(final)" in theirs.stdout
               and "abandoned" not in theirs.stdout,
               "a client's login reads the state's title, not the house's 'abandoned':\n"
               + theirs.stdout + theirs.stderr)
        # A later version reopens a declined request and clears its reason (clearsFields), so a
        # deal won after it is not counted as lost to that.
        flow["transitions"].append({"from": "declined", "action": "reopen",
                                    "to": "awaiting_script", "privilege": "REVISION_APPROVE",
                                    "clearsFields": ["station"]})
        with open(flow_path, "w") as out:
            json.dump(flow, out)
        ok("workflow publish with a reopen that clears the reason", "workflow", "publish",
           flow_path)
        shown_flow = run_cli("workflow", "show", "request_flow", token=admin).stdout
        expect(re.search(r"\ndeclined +reopen +awaiting_script +REVISION_APPROVE, clears station\n",
                         shown_flow), "workflow show names the field a step clears:\n" + shown_flow)
        third = run_cli("order", "create", "--type", "ad_request", "--client", "acme", "--title",
                        "Billboard", "--flight", "2099-02-01..2099-02-02", token=sam)
        third_key = third.stdout.split()[1]
        ok("decline with a reason", "action", third_key, "decline", "--comment", "Too dear",
           "--field", "station=KXYZ", token=sam)
        before = api.head(admin)
        given = run_cli("action", third_key, "reopen", "--field", "station=WXYZ", token=sam)
        expect(given.returncode == 1 and "INVALID_ARGUMENT" in given.stderr
               and "clears field station, so it takes no value for it" in given.stderr
               and api.head(admin) == before,
               "a step takes no value for a field it clears, and writes nothing: " + given.stderr)
        ok("reopen", "action", third_key, "reopen", token=sam)
        reopened = run_cli("order", "show", third_key, token=sam).stdout
        expect("KXYZ" not in reopened and "status awaiting_script" in reopened,
               "the reopened request has no reason left:\n" + reopened)
        expect("KXYZ" in run_cli("audit", "history", "order", third_key, token=admin).stdout,
               "the history keeps the reason it held")
        story = run_cli("order", "history", third_key, token=admin).stdout
        expect(re.search(r"\n  \S+ \S+  decline by sam: [^\n]*Too dear\n"
                         r"  \S+ \S+  with decline: station set to \"KXYZ\"\n", story)
               and re.search(r"\n  \S+ \S+  reopen by sam: [^\n]*\n"
                             r"  \S+ \S+  with reopen: station cleared \(was \"KXYZ\"\)\n",
                             story),
               "order history's story names the field a step set and the one it cleared:\n"
               + story)
        ok("the reopened request deleted, out of the counts below", "delete", third_key, "--yes",
           token=sam)
        unknown = run_cli("type", "show", "media_reqest", token=admin)
        expect(unknown.returncode == 1 and "media_request, production_order" in unknown.stderr,
               "an unknown item type names the ones there are: " + unknown.stderr)
        typed = run_cli("order", "create", "--type", "media_request", "--client", "acme",
                        "--title", "Radio buy", "--flight", "2098-05-01..2098-05-31",
                        "--kind", "provided", "--field", "budget=900", token=sam)
        twice = run_cli("order", "create", "--type", "media_request", "--client", "acme",
                        "--title", "Radio buy", "--flight", "2098-05-01..2098-05-31", "--kind",
                        "provided", "--field", "budget=-5", "--field", "budget=6", token=sam)
        expect(twice.returncode == 2 and "--field budget is given twice" in twice.stderr,
               "a field given twice is a usage error, not one value kept: " + twice.stderr)
        before = api.head(admin)
        blank_number = run_cli("order", "update", typed.stdout.split()[1], "--field", "budget=",
                               token=sam)
        expect(blank_number.returncode == 2
               and "--field budget= (blank) clears a text field, and budget is not one: give it "
               "a value" in blank_number.stderr and api.head(admin) == before,
               "a blank for a number is a usage error, and writes nothing: "
               + blank_number.stderr)
        huge = run_cli("order", "create", "--type", "media_request", "--client", "acme",
                       "--title", "Radio buy", "--flight", "2098-05-01..2098-05-31", "--field",
                       "budget=99999999999999999999", token=sam)
        expect(huge.returncode == 2 and "field budget is a whole number from "
               "-9223372036854775808 to 9223372036854775807" in huge.stderr,
               "a number too big says what fits: " + huge.stderr)
        wordy = run_cli("order", "create", "--type", "media_request", "--client", "acme",
                        "--title", "Radio buy", "--flight", "2098-05-01..2098-05-31", "--field",
                        "budget=lots", token=sam)
        expect(wordy.returncode == 2 and 'field budget is a whole number, not "lots"'
               in wordy.stderr,
               "a word for a number says the field takes a whole number: " + wordy.stderr)
        expect(api.head(admin) == before, "a number too big, or a word, wrote nothing")
        expect(typed.returncode == 0 and "MR-0001" in typed.stdout,
               "order create --type makes an order of another item type: "
               + (typed.stderr or typed.stdout))
        # A type with neither a client nor a flight: the CLI asks for neither, and shows none.
        internal = os.path.join(data_dir, "internal.json")
        with open(internal, "w") as out:
            json.dump({"name": "internal_spot", "key_format": "IS-{seq:3}",
                       "workflow": "production_order",
                       "facets": {"artifacts": ["spot"]}}, out)
        ok("type define without client or flight", "type", "define", internal)
        before = api.head(admin)
        dated = run_cli("order", "create", "--type", "internal_spot", "--title", "Staff promo",
                        "--kind", "provided", "--flight", "2099-01-01..2099-01-02", token=sam)
        expect(api.head(admin) == before, "a flight for a type without one wrote nothing")
        expect(dated.returncode == 2 and "type internal_spot has no flight dates: leave --flight "
               "out" in dated.stderr,
               "a flight for a type without one is refused, not dropped: " + dated.stderr)
        made = run_cli("order", "create", "--type", "internal_spot", "--title", "Staff promo",
                       "--kind", "provided", token=sam)
        expect(made.returncode == 0 and "IS-001" in made.stdout,
               "order create of a type without client or flight asks for neither: "
               + made.stdout + made.stderr)
        shown = run_cli("order", "show", "IS-001", token=sam).stdout
        expect("  internal_spot (provided-spot), owner sam\n" in shown and "flight" not in shown
               and "0 spot revisions; 0 comments" in shown and "script" not in shown,
               "order show names the type and shows no client, flight or script it has not:\n"
               + shown)
        # Seed 001's marketing request: no script, no spot, no flight; it reads as what it is.
        with open(os.path.join(data_dir, "marketing_flow.json"), "w") as out:
            json.dump({"name": "marketing_flow",
                       "initial_states": [{"kind": "PRODUCTION", "state": "submitted"}],
                       "states": [{"name": "submitted", "title": "Submitted"},
                                  {"name": "done", "title": "Done", "terminal": True}],
                       "transitions": [{"from": "submitted", "action": "complete", "to": "done",
                                        "privilege": "ORDER_MANAGE"},
                                       # Seed 001's pre-approval: a step of one role.
                                       {"from": "submitted", "action": "pre_approve",
                                        "to": "done", "privilege": "REVISION_APPROVE",
                                        "roles": ["sales_manager"]}]}, out)
        ok("a workflow for marketing requests", "workflow", "publish",
           os.path.join(data_dir, "marketing_flow.json"))
        with open(os.path.join(data_dir, "insertion.json"), "w") as out:
            json.dump({"name": "media_insertion", "title": "Media insertion",
                       "key_format": "MI-{seq:3}", "workflow": "marketing_flow",
                       "facets": {"client_link": True, "schedule": True, "house_only": True},
                       "fields": [{"name": "cost", "type": "INTEGER", "internal": True}]}, out)
        ok("a media insertion type", "type", "define", os.path.join(data_dir, "insertion.json"))
        with open(os.path.join(data_dir, "marketing.json"), "w") as out:
            json.dump({"name": "marketing_request", "title": "Marketing request",
                       "key_format": "MKT-{seq:3}", "workflow": "marketing_flow",
                       "facets": {"client_link": True, "child_types": ["media_insertion"]},
                       "fields": [{"name": "budget_code", "type": "STRING", "required": True,
                                   "internal": True},
                                  {"name": "channel", "type": "STRING",
                                   "choices": ["print", "radio", "web"]},
                                  {"name": "budget", "type": "INTEGER", "min": 0}]}, out)
        ok("a marketing request type", "type", "define", os.path.join(data_dir, "marketing.json"))
        ok("the pre-approver's address", "user", "update", "mia", "--email", "mia@example.com",
           token=admin)
        request_from = api.head(admin) + 1
        bounded = run_cli("order", "create", "--type", "marketing_request", "--client", "acme",
                          "--title", "Dealer flyer", "--field", "budget=some", token=sam)
        expect(bounded.returncode == 2
               and 'field budget is a whole number, 0 or more, not "some"' in bounded.stderr,
               "a word for a bounded number says the bounds: " + bounded.stderr)
        expect(api.head(admin) + 1 == request_from, "the word for a number wrote nothing")
        ok("a marketing request", "order", "create", "--type", "marketing_request", "--client",
           "acme", "--title", "Dealer flyer", "--field", "budget_code=MK-7", token=sam)
        shown = run_cli("order", "show", "MKT-001", token=sam).stdout
        expect("  Marketing request (marketing_request) for client acme, owner sam\n" in shown
               and "\n  0 comments (spotflow order history MKT-001)\n" in shown
               and "made for" not in shown
               and "revision" not in shown and "production" not in shown
               and "flight" not in shown,
               "order show tells a marketing request in its type's words:\n" + shown)
        managers = run_cli("role", "show", "sales_manager", token=admin).stdout
        expect("  grants REVISION_APPROVE:ALL\n" in managers
               and "  takes pre_approve from submitted in workflow marketing_flow (v1)\n"
               in managers,
               "role show names a role's grants and the steps given to it:\n" + managers)
        flow = run_cli("workflow", "show", "marketing_flow", token=sam).stdout
        expect(re.search(r"submitted +pre_approve +done +REVISION_APPROVE, role sales_manager",
                         flow), "workflow show names the role a step is taken by:\n" + flow)
        expect(re.search(r"open to you now:\n +complete +spotflow action MKT-001 complete\n"
                         r"  waits for:\n", shown)
               and re.search(r"\n    mia .*\(sales manager\) +pre_approve\n", shown),
               "a step of another role is not offered to an AE who approves; it waits for that "
               "role:\n" + shown)
        # Seed 001: the pre-approver is told a request waits for them (a mail gateway's feed).
        told = run_cli("notify", "--from", str(request_from), token=admin)
        expect(told.returncode == 0
               and re.search(r"\n%d +mia <mia@example.com> +MKT-001 +pre_approve  "
                             r"\(Dealer flyer\)\n" % request_from, told.stdout),
               "notify tells the pre-approver the request waits for them:\n"
               + told.stdout + told.stderr)
        notices = [json.loads(line) for line in
                   run_cli("--json", "notify", "--from", str(request_from),
                           token=admin).stdout.splitlines()]
        expect(any(n["user_id"] == "mia" and n["key"] == "MKT-001"
                   and n["actions"] == ["pre_approve"] and n["email"] == "mia@example.com"
                   for n in notices),
               "notify --json gives a line per notice, with the address: %r" % notices)
        # The only pre-approver leaving is said: the step would wait for no one.
        gone = run_cli("user", "deactivate", "mia", token=admin)
        expect(gone.returncode == 0
               and "  no active user holds the role sales_manager now, which step pre_approve "
               "(workflow marketing_flow) is given to: orders there wait for no one (give it to "
               "someone: spotflow user roles USER THEIR_ROLES,sales_manager)\n" in gone.stdout,
               "deactivating the only pre-approver says what waits for no one: " + gone.stdout
               + gone.stderr)
        ok("mia back", "user", "reactivate", "mia")
        quiet = run_cli("notify", "--from", str(api.head(admin) + 1), token=admin)
        expect(quiet.returncode == 0 and "(nothing new: the log ends at position" in quiet.stdout,
               "notify from the log's end says nothing waits anew:\n" + quiet.stdout + quiet.stderr)
        not_theirs = run_cli("notify", token=sam)
        expect(not_theirs.returncode == 1 and "PERMISSION_DENIED" in not_theirs.stderr,
               "notify reads the log, which an AE may not: " + not_theirs.stderr)
        theirs_alone = run_cli("action", "MKT-001", "pre_approve", token=sam)
        expect(theirs_alone.returncode == 1 and "PERMISSION_DENIED" in theirs_alone.stderr
               and "is taken by the role sales_manager" in theirs_alone.stderr,
               "a step of another role is refused, naming it: " + theirs_alone.stderr)
        # Seed 001's agent assigns the request a responsible: one who may take a step of it.
        producer = run_cli("assign", "MKT-001", "pete", token=sam)
        expect(producer.returncode == 1 and "may take none of the steps still ahead of order MKT-001" in producer.stderr,
               "a producer is no responsible for a request without revisions: "
               + producer.stderr)
        ok("a responsible for the request", "assign", "MKT-001", "ann", token=sam)
        board = run_cli("order", "list", "--assigned", "ann", token=sam).stdout.splitlines()
        expect(board[0].split()[5:7] == ["OWNER", "ASSIGNED"] and len(board) == 2
               and board[1].split()[1] == "MKT-001" and board[1].split()[-2] == "ann",
               "order list --assigned lists whose responsible someone is, and names them:\n"
               + "\n".join(board))
        theirs = run_cli("order", "list", "--assigned", "ann", token=tokens["carol"])
        expect(theirs.returncode == 1 and "PERMISSION_DENIED" in theirs.stderr,
               "whom the house assigns is not a contact's filter: " + theirs.stderr)
        expect(", owner sam, responsible ann\n" in run_cli("order", "show", "MKT-001").stdout,
               "order show names a request's responsible as such")
        expect("responsible ann assigned by sam" in run_cli("order", "history", "MKT-001").stdout,
               "order history names a request's responsible as such")
        # Seed 001's agent makes a media insertion for the request: for its client, linked.
        ok("a media insertion for the request", "order", "create", "--type", "media_insertion",
           "--parent", "MKT-001", "--title", "Radio buy", "--flight", "2098-03-01..2098-03-31",
           "--field", "cost=900", token=sam)
        # The house's own: the client requests marketing, not insertions, nor reads their cost.
        ok("carol requests again", "user", "roles", "carol", "client_contact,client_requester")
        forms = run_cli("type", "list", token=tokens["carol"]).stdout
        expect(forms.splitlines()[0].split() == ["TYPE", "TITLE", "FLIGHT", "FIELDS"]
               and "marketing_request" in forms and "media_insertion" not in forms,
               "a requester lists the forms it may fill in, not the house's own types:\n" + forms)
        direct = run_cli("order", "create", "--type", "media_insertion", "--title", "Mine",
                         "--flight", "2098-03-01..2098-03-31", token=tokens["carol"])
        expect(direct.returncode == 1 and "does not exist" in direct.stderr,
               "a type the house makes alone is not requested: " + direct.stderr)
        seen = run_cli("order", "show", "MI-001", token=tokens["carol"])
        expect(seen.returncode == 0 and "cost" not in seen.stdout,
               "an internal field is not shown to the client:\n" + seen.stdout + seen.stderr)
        expect("fields: cost 900" in run_cli("order", "show", "MI-001", token=sam).stdout,
               "the house reads its internal field")
        form = run_cli("type", "show", "marketing_request", token=tokens["carol"]).stdout
        expect("\n  field channel: string, one of: print, radio, web\n" in form
               and "\n  field budget: integer, 0 or more\n" in form,
               "a request form offers a field's choices and range:\n" + form)
        off_list = run_cli("order", "create", "--type", "marketing_request", "--title",
                           "Open house flyer", "--field", "channel=tv", token=tokens["carol"])
        expect(off_list.returncode == 1 and "INVALID_ARGUMENT" in off_list.stderr
               and 'field "channel" is one of: print, radio, web; not "tv"' in off_list.stderr,
               "a value off a field's choices is refused, naming them: " + off_list.stderr)
        negative = run_cli("order", "create", "--type", "marketing_request", "--title",
                           "Open house flyer", "--field", "budget=-5", token=tokens["carol"])
        expect(negative.returncode == 1 and "it takes 0 or more" in negative.stderr,
               "a value below a field's range is refused: " + negative.stderr)
        ok("carol's own request", "order", "create", "--type", "marketing_request", "--title",
           "Open house flyer", "--field", "channel=web", token=tokens["carol"])
        to_fill = run_cli("order", "show", "MKT-002", token=sam).stdout
        expect("\n  to fill in: budget_code (spotflow order update MKT-002 --field NAME=VALUE)\n"
               in to_fill, "order show tells the house the fields it has to fill in:\n" + to_fill)
        expect("budget_code" not in run_cli("order", "show", "MKT-002",
                                            token=tokens["carol"]).stdout,
               "the client is not asked for the house's field")
        # Choices narrowed later: the value given before stays, and the house is told.
        with open(os.path.join(data_dir, "marketing.json")) as original:
            narrowed = json.load(original)
        narrowed["fields"][1]["choices"] = ["print", "radio"]
        with open(os.path.join(data_dir, "marketing_narrowed.json"), "w") as out:
            json.dump(narrowed, out)
        ok("the request form's choices narrowed", "type", "define",
           os.path.join(data_dir, "marketing_narrowed.json"))
        kept_web = run_cli("order", "show", "MKT-002", token=sam).stdout
        expect("fields: channel web" in kept_web
               and '\n  field channel no longer fits its type: field "channel" is one of: print, '
               'radio; not "web" (kept as given; spotflow order update MKT-002 --field '
               'channel=VALUE)\n' in kept_web,
               "order show flags a value its type no longer takes:\n" + kept_web)
        ok("the choices as they were", "type", "define", os.path.join(data_dir, "marketing.json"))
        unfilled = run_cli("action", "MKT-002", "complete", token=sam)
        expect(unfilled.returncode == 1 and "FAILED_PRECONDITION" in unfilled.stderr
               and "lacks its required field budget_code" in unfilled.stderr
               and "give it with the step (spotflow action MKT-002 complete --field "
               "budget_code=VALUE) or fill it in first" in unfilled.stderr,
               "a request does not finish before the house fills in its field: "
               + unfilled.stderr)
        # Seed 001's anonymous clients request through the house's public form: an account
        # for the public, the form as its contact, the form's login (client_requester) whose
        # token the web form holds, and a type whose form asks who is asking.
        ok("an account for the public", "client", "create", "--name", "Website requests",
           token=sam)
        ok("the web form as its contact", "contact", "add", "website-requests", "--name",
           "Web form", token=sam)
        ok("the web form's login", "user", "create", "web-form", "--name", "Web form", "--role",
           "client_requester", "--client", "website-requests", "--contact", "web-form")
        form = run_cli("token", "issue", "web-form", token=admin).stdout.strip().splitlines()[-1]
        with open(os.path.join(data_dir, "web_request.json"), "w") as out:
            json.dump({"name": "web_request", "title": "Web request", "key_format": "WEB-{seq:3}",
                       "workflow": "marketing_flow", "facets": {"client_link": True},
                       "fields": [{"name": "requester_name", "type": "STRING", "required": True},
                                  {"name": "requester_email", "type": "EMAIL", "required": True},
                                  {"name": "topic", "type": "STRING",
                                   "choices": ["flyer", "banner", "radio spot"]}]}, out)
        ok("a web request type", "type", "define", os.path.join(data_dir, "web_request.json"))
        asking = ["order", "create", "--type", "web_request", "--title", "Flyer for our fair",
                  "--field", "requester_name=Jo Public", "--field", "topic=flyer"]
        no_address = run_cli(*(asking + ["--field", "requester_email=jo at example"]), token=form)
        expect(no_address.returncode == 1 and "INVALID_ARGUMENT" in no_address.stderr
               and "is not an address like name@example.com" in no_address.stderr,
               "an email field takes an address: " + no_address.stderr)
        asked = run_cli(*(["--json"] + asking + ["--field", "requester_email=jo@example.org"]),
                        token=form)
        expect(asked.returncode == 0, "an anonymous request is made: " + asked.stderr)
        web_id = json.loads(asked.stdout)["id"]
        followed = run_cli("order", "show", web_id, token=form).stdout
        expect("Submitted" in followed and "jo@example.org" in followed,
               "the form shows a requester their request by its id:\n" + followed)
        expect("\n  fields: requester_name Jo Public, requester_email jo@example.org, topic flyer\n"
               in run_cli("order", "show", web_id, token=sam).stdout,
               "the house reads who asked, to write back, in the form's order")
        # The one login speaks for every visitor: it reads their requests by key too, which
        # is why the portal shows one only by the id it handed out (README).
        expect("jo@example.org" in run_cli("order", "show", "WEB-001", token=form).stdout,
               "the form's login reads a request by its key")
        # Anonymous requests are switched off by deactivating the form's login.
        ok("anonymous requests switched off", "user", "deactivate", "web-form")
        off = run_cli(*(asking + ["--field", "requester_email=jo@example.org"]), token=form)
        expect(off.returncode == 1 and "PERMISSION_DENIED" in off.stderr,
               "a deactivated form login requests nothing: " + off.stderr)
        ok("carol back to a contact", "user", "roles", "carol", "client_contact")
        wrong = run_cli("order", "create", "--parent", "MKT-001", "--title", "Spot",
                        "--flight", "2098-03-01..2098-03-31", token=sam)
        expect(wrong.returncode == 1 and "those made for one are of type media_insertion"
               in wrong.stderr,
               "only the types the request's type lists are made for it: " + wrong.stderr)
        insertion = run_cli("order", "show", "MI-001", token=sam).stdout
        expect("for client acme" in insertion
               and "\n  made for MKT-001 Dealer flyer (Marketing request, Submitted)\n"
               in insertion,
               "an item made for a request is for its client, and names it:\n" + insertion)
        request = run_cli("order", "show", "MKT-001", token=sam).stdout
        expect("\n  made for it:\n    MI-001 Radio buy (Media insertion, Submitted)\n" in request,
               "the request names what was made for it:\n" + request)
        early = run_cli("action", "MKT-001", "complete", token=sam)
        expect(early.returncode == 1 and "FAILED_PRECONDITION" in early.stderr
               and "still under way: MI-001 (Submitted)" in early.stderr,
               "a request does not finish before the items made for it: " + early.stderr)
        made_for = run_cli("order", "list", "--parent", "MKT-001", token=sam).stdout
        expect([line.split()[1] for line in made_for.splitlines()[1:]] == ["MI-001"],
               "order list --parent lists the items made for that order:\n" + made_for)
        story = run_cli("order", "history", "MKT-001", token=sam).stdout
        expect("made for it: MI-001 Radio buy (Media insertion)" in story,
               "the request's history tells when each was made for it:\n" + story)
        as_json = json.loads(run_cli("--json", "order", "show", "MKT-001", token=sam).stdout)
        expect("flight_start" not in as_json and as_json["item_type_title"] == "Marketing request",
               "an item without a flight has none in JSON, not an empty one: %s" % as_json)
        theirs = json.loads(run_cli("--json", "order", "show", "MKT-001",
                                    token=tokens["carol"]).stdout)
        expect(not {"workflow", "workflow_version", "created_position", "updated_position"}
               & set(theirs) and theirs["status_title"] == "Submitted",
               "a contact's login is not shown the house's workflow or log positions: %s" % theirs)
        of_type = run_cli("order", "list", "--type", "internal_spot", token=sam).stdout
        expect("IS-001" in of_type and "PO-" not in of_type,
               "order list --type lists the items of that type alone:\n" + of_type)
        listed = [line for line in run_cli("order", "list", token=sam).stdout.splitlines()
                  if "IS-001" in line]
        expect(len(listed) == 1 and listed[0].split()[-4:] == ["-", "sam", "-", "-"],
               "order list shows no client, no one assigned and no flight as -: %s" % listed)
        production = run_cli("order", "create", "--type", "internal_spot", "--title", "Scripted",
                             token=sam)
        expect(production.returncode == 1 and "would stop for good in state \"awaiting_script\""
               in production.stderr,
               "a PRODUCTION order of a spots-only type is refused: " + production.stderr)
        # The spot of an order of kind provided is the client's: no --provided needed.
        ok("a provided order", "order", "create", "--client", "acme", "--title", "Agency cut",
           "--flight", "2098-06-01..2098-06-30", "--kind", "provided", "--id", "agency-cut",
           token=sam)
        ok("spot upload on a provided order", "spot", "upload", "agency-cut", "--uri",
           "s3://agency/cut.wav", "--duration-ms", "30000", token=sam)
        cut = api.call("Orders", "GetOrder", service_pb2.GetOrderRequest(order_id="agency-cut"),
                       domain_pb2.OrderView, sam)
        expect(len(cut.spots) == 1 and cut.spots[0].provided_by_client,
               "the spot uploaded is the client's: %s" % cut.spots)
        # A producer, who may record spots too, records one unless told --provided.
        ok("a producer's spot on a provided order", "spot", "upload", "agency-cut", "--uri",
           "s3://studio/recut.wav", "--duration-ms", "30000", token=pete)
        cut = api.call("Orders", "GetOrder", service_pb2.GetOrderRequest(order_id="agency-cut"),
                       domain_pb2.OrderView, sam)
        expect(len(cut.spots) == 2 and not cut.spots[1].provided_by_client,
               "the producer's spot is recorded, not the client's: %s" % cut.spots)
        unreadable = os.path.join(data_dir, "broken.json")
        with open(unreadable, "w") as out:
            out.write('{"name": ')
        broken = run_cli("workflow", "publish", unreadable, token=admin)
        expect(broken.returncode == 1 and "is not a workflow in JSON" in broken.stderr,
               "a file that is no workflow is refused before anything is sent")
        with open(unreadable, "w") as out:
            out.write('{"name": "x",\n "states": [ {"name": oops } ]}\n')
        broken = run_cli("workflow", "publish", unreadable, token=admin)
        said = broken.stderr.splitlines()
        expect(broken.returncode == 1 and "(line 2, column 23)" in said[0] and len(said) == 3
               and said[1][said[2].index("^"):].startswith("oops"),
               "a JSON error names its line and column, the caret under the spot: %r" % said)
        # A token issued, then revoked by the start of its hash as `user show` lists it.
        issued = run_cli("token", "issue", "otto", token=admin)
        otto = issued.stdout.strip().splitlines()[-1]
        expect(issued.returncode == 0 and run_cli("order", "list", token=otto).returncode == 0,
               "a token issued with the CLI works at once")
        prefix = hashlib.sha256(otto.encode()).hexdigest()[:12]
        expect(prefix in run_cli("user", "show", "otto", token=admin).stdout,
               "user show lists the token by the start of its hash")
        revoked = run_cli("token", "revoke", "otto", prefix, token=admin)
        expect(revoked.returncode == 0 and "revoked token " + prefix in revoked.stdout,
               "token revoke (%s)" % (revoked.stderr or revoked.stdout).strip())
        refused = run_cli("order", "list", token=otto)
        expect(refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr,
               "the revoked token no longer works (%s)" % refused.stderr.strip())
        expect("1 revoked" in run_cli("user", "show", "otto", token=admin).stdout,
               "user show counts the revoked token")
        # A dry run names what would move and moves nothing.
        preview = run_cli("accounts", "reassign", "sam", "mia", "--client", "globex",
                          "--dry-run", token=mia)
        expect(preview.returncode == 0 and "dry run: the change would be made" in preview.stdout
               and "  clients it would move: globex\n" in preview.stdout
               and "  open orders it would move: " in preview.stdout,
               "accounts reassign --dry-run names what would move: " + preview.stdout)
        globex = api.call("Clients", "GetClient", service_pb2.GetClientRequest(client_id="globex"),
                          domain_pb2.ClientView, mia)
        expect(globex.owner_id == "sam", "a dry run moves nothing")
        # Accounts go to those who may approve their work: an AE, not order entry.
        to_entry = run_cli("accounts", "reassign", "sam", "mia,otto", "--dry-run", token=mia)
        expect(to_entry.returncode == 1 and "INVALID_ARGUMENT" in to_entry.stderr
               and '"otto" cannot own accounts' in to_entry.stderr,
               "order entry is refused accounts: " + to_entry.stderr)
        made = run_cli("user", "create", "ava", "--name", "Ava Seller", "--role",
                       "account_executive", token=admin)
        expect(made.returncode == 0 and "to let them sign in: spotflow token issue ava"
               in made.stdout, "user create makes a second AE and says what comes next: "
               + made.stdout + made.stderr)
        misspelt = run_cli("user", "create", "bob", "--name", "Bob", "--role", "acount_executive",
                           token=admin)
        expect(misspelt.returncode == 1 and "the roles are: account_executive, " in misspelt.stderr
               and 'did you mean "account_executive"?' in misspelt.stderr,
               "a misspelt role names the nearest and the roles: " + misspelt.stderr)
        spread = run_cli("accounts", "reassign", "sam", "mia,ava", "--dry-run", token=mia)
        expect(spread.returncode == 0 and "  to mia:\n" in spread.stdout
               and "  to ava:\n" in spread.stdout and "    clients it would move: "
               in spread.stdout, "accounts spread over several say who would take what: "
               + spread.stdout + spread.stderr)
        # Spread for real: the way back is one command, the takers giving back together.
        listed_before = [run_cli("client", "list", token=mia).stdout,
                         run_cli("order", "list", "--archived", "include", token=mia).stdout]
        spread = run_cli("accounts", "reassign", "sam", "mia,ava", token=mia)
        backs = re.findall(r"^  to move them back to sam: (spotflow .*)$", spread.stdout, re.M)
        expect(spread.returncode == 0 and len(backs) == 1
               and re.match(r"ok: mia,ava \(\d+ clients?, \d+ orders?\)\n", spread.stdout)
               and backs[0].startswith("spotflow accounts reassign mia,ava sam --client "),
               "a spread's way back is one command: " + spread.stdout + spread.stderr)
        for command in backs:
            expect(run_cli(*command.split()[1:], token=mia).returncode == 0, command)
        expect([run_cli("client", "list", token=mia).stdout,
                run_cli("order", "list", "--archived", "include", token=mia).stdout]
               == listed_before, "the spread's way back leaves every account and order as it was")
        for args in (("--kind=",), ("--kind", "agency", "--client", "globex")):
            refused = run_cli("accounts", "reassign", "sam", "mia", *args, token=mia)
            expect(refused.returncode == 2, "accounts reassign %s is a usage error: %s"
                   % (" ".join(args), refused.stderr))
        moved = run_cli("accounts", "reassign", "sam", "mia", "--client", "globex", token=mia)
        expect(moved.returncode == 0 and "  clients: globex\n" in moved.stdout
               and "etag=0" not in moved.stdout,
               "accounts reassign names what moved: " + moved.stdout)
        expect(re.search(r"^  open orders: PO-\d{4}-\d{5}\b", moved.stdout, re.M),
               "the account's open orders moved with it, named by key: " + moved.stdout)
        expect(re.search(r"\n  to move them back to sam: spotflow accounts reassign mia sam --client "
                         r"globex --orders PO-\d{4}-\d{5},PO-\d{4}-\d{5}\n", moved.stdout),
               "accounts reassign says how to move them back, with the orders that moved: "
               + moved.stdout)
        order_id = moved.stdout.split("open orders: ")[-1].split(",")[0].strip()
        expect("owner sam -> mia by mia" in run_cli("order", "history", order_id,
                                                     token=mia).stdout,
               "order history shows the owner change")
        # One order back to sam; its account stays with mia.
        back = run_cli("order", "reassign", order_id, "sam", token=mia)
        expect(back.returncode == 0 and back.stdout.startswith("ok: ") and "(1 order)" in back.stdout
               and "  orders to sam: %s (from mia)\n" % order_id in back.stdout
               and "  to move them back to mia: spotflow order reassign %s mia\n" % order_id
               in back.stdout and api.order(order_id, mia).owner_id == "sam",
               "order reassign moves the order, says from whom and how to move it back: "
               + back.stdout + back.stderr)
        # The way back is exact: globex to sam takes mia's open orders on it, and the way back
        # takes those only, not sam's own (order_id).
        on_globex = moved.stdout.split("open orders: ")[-1].split("\n")[0].split(", ")
        owners = {o: api.order(o, mia).owner_id for o in on_globex}
        expect(len(on_globex) == 2 and sorted(owners.values()) == ["mia", "sam"],
               "one order on globex is sam's, the other mia's: %r" % owners)
        mias = [o for o in on_globex if owners[o] == "mia"]
        # Orders named to go with accounts must be the giver's open ones on them.
        before = api.head(admin)
        wrong = run_cli("accounts", "reassign", "mia", "sam", "--client", "globex", "--orders",
                        "spring-launch", token=mia)  # sam's, on acme.
        expect(wrong.returncode == 1 and "FAILED_PRECONDITION" in wrong.stderr
               and "is not an open order of \"mia\" on the accounts moved" in wrong.stderr
               and "spotflow order reassign PO-2026-00002 USER" in wrong.stderr
               and api.head(admin) == before,
               "an order that is not the giver's is refused and nothing moves: " + wrong.stderr)
        none = run_cli("accounts", "reassign", "mia", "sam", "--client", "globex", "--no-orders",
                       "--dry-run", token=mia)
        expect(none.returncode == 0 and "clients it would move: globex" in none.stdout
               and "open orders it would move" not in none.stdout,
               "--no-orders moves the account alone: " + none.stdout + none.stderr)
        there = run_cli("accounts", "reassign", "mia", "sam", "--client", "globex", token=mia)
        way_back = re.findall(r"(?:to move them back to mia: |^ +)(spotflow .*)$", there.stdout,
                              re.M)
        expect(there.returncode == 0 and way_back == [
                   "spotflow accounts reassign sam mia --client globex --orders " + mias[0]],
               "the way back takes only the orders that came: " + there.stdout + there.stderr)
        for command in way_back:
            expect(run_cli(*command.split()[1:], token=mia).returncode == 0, command)
        expect({o: api.order(o, mia).owner_id for o in on_globex} == owners
               and api.call("Clients", "GetClient",
                            service_pb2.GetClientRequest(client_id="globex"),
                            domain_pb2.ClientView, mia).owner_id == "mia",
               "the way back leaves every order and the account as they were")
        # A repeat is already so; an etag guards one account, and several need none.
        again = run_cli("accounts", "reassign", "sam", "mia", "--client", "globex", token=mia)
        expect(again.returncode == 0 and "(already so: nothing changed)" in again.stdout
               and "to move them back" not in again.stdout,
               "a repeat of an account move is already so: " + again.stdout + again.stderr)
        before = api.head(admin)
        etag = api.call("Clients", "GetClient", service_pb2.GetClientRequest(client_id="globex"),
                        domain_pb2.ClientView, mia).version
        several = run_cli("accounts", "reassign", "mia", "sam", "--etag", str(etag), token=mia)
        expect(several.returncode == 1 and "INVALID_ARGUMENT" in several.stderr
               and "an etag guards one account" in several.stderr and api.head(admin) == before,
               "an etag on a whole book is refused and writes nothing: " + several.stderr)
        stale = run_cli("accounts", "reassign", "mia", "sam", "--client", "globex", "--etag",
                        str(etag - 1), "--dry-run", token=mia)
        expect(stale.returncode == 1 and "ABORTED" in stale.stderr
               and 'client "globex" is at version %d' % etag in stale.stderr,
               "a stale etag on one account is ABORTED: " + stale.stderr)
        current = run_cli("accounts", "reassign", "mia", "sam", "--client", "globex", "--etag",
                          str(etag), "--dry-run", token=mia)
        expect(current.returncode == 0 and "clients it would move: globex" in current.stdout,
               "the account's etag guards it: " + current.stdout + current.stderr)
        # One who may move their own accounts only is not handed a way back they may not take.
        ok("a role to move one's own accounts", "role", "define", "own_book", "--grant",
           "account_reassign:own")
        ok("ava may move her own accounts", "user", "roles", "ava", "account_executive,own_book")
        ava = run_cli("token", "issue", "ava", token=admin).stdout.strip().splitlines()[-1]
        expect(run_cli("accounts", "reassign", "mia", "ava", "--client", "globex", token=mia)
               .returncode == 0, "globex to ava")
        handed = run_cli("accounts", "reassign", "ava", "sam", "--client", "globex", token=ava)
        expect(handed.returncode == 0
               and "  to move them back to ava: spotflow accounts reassign sam ava --client globex "
               "--orders " + mias[0] in handed.stdout
               and "(you may not move sam's accounts back yourself: ask mia, who manages sam)"
               in handed.stdout,
               "the way back says who may take it: " + handed.stdout + handed.stderr)
        for command in re.findall(r"(?:to move them back to ava: |^ +)(spotflow .*)$",
                                  handed.stdout, re.M):
            expect(run_cli(*command.split()[1:], token=mia).returncode == 0, command)
        # With no manager set, the hint says whose reach it needs.
        ok("sam managed by no one", "user", "manager", "sam")
        unmanaged = run_cli("accounts", "reassign", "ava", "sam", "--client", "globex", token=ava)
        expect(unmanaged.returncode == 0
               and "(you may not move sam's accounts back yourself: ask a manager whose reach "
               "takes in sam)" in unmanaged.stdout,
               "the hint with no manager: " + unmanaged.stdout + unmanaged.stderr)
        for command in re.findall(r"(?:to move them back to ava: |^ +)(spotflow .*)$",
                                  unmanaged.stdout, re.M):
            expect(run_cli(*command.split()[1:], token=mia).returncode == 0, command)
        ok("sam managed by mia again", "user", "manager", "sam", "mia")
        expect(run_cli("accounts", "reassign", "ava", "mia", "--client", "globex", token=mia)
               .returncode == 0, "globex back to mia")
        expect({o: api.order(o, mia).owner_id for o in on_globex} == owners,
               "every order as it was: %r" % owners)
        # Seed 003's personal manager: the account to ava, each order staying with its manager.
        before = api.head(admin)
        mixed = run_cli("client", "update", "globex", "--owner", "ava", "--name", "Globex",
                        token=mia)
        expect(mixed.returncode == 2 and "--owner changes who the client's account belongs to, "
               "on its own" in mixed.stderr and api.head(admin) == before,
               "--owner with other changes is a usage error: " + mixed.stderr)
        personal = run_cli("client", "update", "globex", "--owner", "ava", token=mia)
        expect(personal.returncode == 0 and "  clients: globex\n" in personal.stdout
               and "open orders" not in personal.stdout
               and "spotflow accounts reassign ava mia --client globex --no-orders"
               in personal.stdout,
               "client update --owner moves the account alone: " + personal.stdout
               + personal.stderr)
        expect({o: api.order(o, mia).owner_id for o in on_globex} == owners,
               "the orders keep their managers")
        shown = run_cli("order", "show", order_id, token=mia).stdout
        expect(re.search(r" for client globex \(account owner ava\), owner sam\n", shown),
               "order show names the account's owner beside the order's:\n" + shown)
        same = run_cli("client", "update", "globex", "--owner", "ava", token=mia)
        expect(same.returncode == 0 and "is already ava's account (nothing changed)"
               in same.stdout, "the same owner again changes nothing: " + same.stdout)
        expect(run_cli("client", "update", "globex", "--owner", "mia", token=mia).returncode == 0,
               "globex back to mia")
        # Seed 004's "Reassign More Relationships": sam and mia give at once, each account
        # with its givers' open orders, and the way back goes to each giver, exact.
        def owners_of(clients):
            found = {}
            for client in clients:
                listed = api.call("Orders", "ListOrders",
                                  service_pb2.ListOrdersRequest(client_id=client, page_size=100),
                                  service_pb2.ListOrdersResponse, mia)
                found.update({o.order_id: o.owner_id for o in listed.orders})
            accounts = {c: api.call("Clients", "GetClient",
                                    service_pb2.GetClientRequest(client_id=c),
                                    domain_pb2.ClientView, mia).owner_id for c in clients}
            return found, accounts
        before_both = owners_of(["acme", "globex"])
        expect(before_both[1] == {"acme": "sam", "globex": "mia"}, repr(before_both))
        both = run_cli("accounts", "reassign", "sam,mia", "ava", "--client", "acme,globex",
                       token=mia)
        backs = ways_back(both.stdout)
        # sam's order on globex (mia's) goes with it, as sam gives too, and back to sam alone.
        expect(both.returncode == 0 and "  clients: acme (sam's), globex (mia's)\n" in both.stdout
               and [giver for giver, _ in backs] == ["sam", "sam", "mia"]
               and backs[1][1] == "spotflow order reassign %s sam" % order_id
               and "%s (sam's)" % order_id in both.stdout
               and owners_of(["acme", "globex"])[1] == {"acme": "ava", "globex": "ava"},
               "several give at once, and the way back goes to each: " + both.stdout + both.stderr)
        for _, command in backs:
            expect(run_cli(*command.split()[1:], token=mia).returncode == 0, command)
        expect(owners_of(["acme", "globex"]) == before_both,
               "each way back leaves the accounts and every order as they were")
        # Seed 004's "Assign by Audience": * moves every account of a kind within reach,
        # whoever holds it; without --client or --kind it is a usage error.
        audience = run_cli("accounts", "reassign", "*", "ava", "--kind", "advertiser",
                           "--dry-run", token=mia)
        expect(audience.returncode == 0 and "acme (sam's)" in audience.stdout
               and "globex (mia's)" in audience.stdout,
               "an audience across owners: " + audience.stdout + audience.stderr)
        named = run_cli("accounts", "reassign", "*", "ava", "--client", "acme,globex",
                        token=mia)
        backs = ways_back(named.stdout)
        expect(named.returncode == 0 and [giver for giver, _ in backs] == ["sam", "mia"],
               "* --client moves each from whoever holds it: " + named.stdout + named.stderr)
        for _, command in backs:
            expect(run_cli(*command.split()[1:], token=mia).returncode == 0, command)
        expect(owners_of(["acme", "globex"]) == before_both, "and back, exact")
        # An account the taker holds already stays with them, and the answer says so.
        partly = run_cli("accounts", "reassign", "*", "mia", "--client", "acme,globex",
                         "--dry-run", token=mia)
        expect(partly.returncode == 0 and "  clients it would move: acme (sam's)\n" in partly.stdout
               and "  staying with mia, who held it already: globex\n" in partly.stdout,
               "a dry run names the account that stays: " + partly.stdout + partly.stderr)
        given = run_cli("accounts", "reassign", "sam", "mia", "--client", "acme,globex",
                        "--dry-run", token=mia)
        expect(given.returncode == 0 and "  clients it would move: acme\n" in given.stdout
               and "  staying with mia, who held it already: globex\n" in given.stdout,
               "so it does with a giver named: " + given.stdout + given.stderr)
        before = api.head(admin)
        held = run_cli("accounts", "reassign", "*", "mia", "--client", "globex", token=mia)
        expect(held.returncode == 0 and "(already so: nothing changed)" in held.stdout
               and "  stayed with mia, who held it already: globex\n" in held.stdout
               and "to move them back" not in held.stdout and api.head(admin) == before,
               "an account already the taker's stays, says so, and nothing is written: "
               + held.stdout + held.stderr)
        everything = run_cli("accounts", "reassign", "*", "ava", token=mia)
        expect(everything.returncode == 2 and "* moves the accounts named (--client) or of a "
               "kind (--kind)" in everything.stderr and api.head(admin) == before,
               "* alone is a usage error: " + everything.stderr)
        for args, says in ((("*,sam", "ava", "--kind", "agency"), "* stands alone"),
                           (("sam", "ava,"), "TO_USER names users separated by commas"),
                           (("sam", "ava", "--client", "acme,"), "--client names clients")):
            wrong = run_cli("accounts", "reassign", *args, token=mia)
            expect(wrong.returncode == 2 and says in wrong.stderr and api.head(admin) == before,
                   "accounts reassign %s is a usage error: %s" % (" ".join(args), wrong.stderr))
        on_mias = run_cli("order", "list", "--account-owner", "mia", token=mia)
        expect(on_mias.returncode == 0 and order_id in on_mias.stdout
               and order_id not in run_cli("order", "list", "--owner", "mia", token=mia).stdout,
               "order list --account-owner lists the orders on mia's accounts, sam's too: "
               + on_mias.stdout + on_mias.stderr)
        gone = run_cli("user", "deactivate", "sam", token=admin)
        expect(gone.returncode == 0 and re.search(
                   r"sam also owns 2 open orders on no account of theirs \(%s, IS-001\), which "
                   r"stay theirs; move them with: spotflow order reassign %s,IS-001 USER"
                   % (order_id, order_id),
                   gone.stdout),
               "deactivating sam names the order that an account move would not take, and how "
               "to move it: " + gone.stdout)
        taken = run_cli("order", "reassign", order_id, "mia", token=mia)
        expect(taken.returncode == 0 and "  to move them back to sam (deactivated: reactivate them "
               "first): spotflow order reassign %s sam\n" % order_id in taken.stdout,
               "the way back to a deactivated owner says to reactivate them first: "
               + taken.stdout + taken.stderr)
        # An account of a deactivated AE: its way back is printed, saying once to reactivate.
        acme_move = run_cli("accounts", "reassign", "sam", "mia", "--client", "acme", token=mia)
        acme_back = re.findall(r"to move them back to sam \(deactivated: reactivate them first\): "
                               r"(spotflow .*)$", acme_move.stdout, re.M)
        expect(acme_move.returncode == 0 and len(acme_back) == 1
               and "would be refused now" not in acme_move.stdout,
               "a way back to one deactivated says once to reactivate them: " + acme_move.stdout
               + acme_move.stderr)
        ok("user reactivate", "user", "reactivate", "sam")
        expect(run_cli(*acme_back[0].split()[1:], token=mia).returncode == 0,
               "the way back, once sam is back: " + acme_back[0])
        ok("the order back to sam", "order", "reassign", order_id, "sam", token=mia)
        called = run_cli("order", "show", order_id).stdout
        expect("  the client's contacts, to call about this order:\n    gus: " in called,
               "the owner of an order on another's account is given whom to call:\n" + called)
        globex = api.call("Clients", "GetClient", service_pb2.GetClientRequest(client_id="globex"),
                          domain_pb2.ClientView, mia)
        expect(globex.owner_id == "mia", "the account moved to its new owner")
        # Following the log and watching an order: each change arrives as a line.
        def follow(*args, token):
            return subprocess.Popen([cli, "--server=127.0.0.1:%d" % port, "--token=" + token]
                                    + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def read_until(process, needle, seconds=10):
            # Raw reads: a buffered readline could hold the line select() no longer sees.
            import select
            deadline = time.time() + seconds
            if needle.encode() in getattr(process, "seen", b""):
                return True  # Read with an earlier line.
            while time.time() < deadline:
                ready, _, _ = select.select([process.stdout], [], [], 0.2)
                if ready:
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        return False
                    process.seen = getattr(process, "seen", b"") + chunk
                    if needle.encode() in process.seen:
                        return True
            return False
        tailing = follow("events", "tail", "--limit", "1", "--follow", token=aud)
        tailing_json = follow("--json", "events", "tail", "--limit", "1", "--follow", token=aud)
        watching = follow("order", "watch", "spring-launch", token=sam)
        watching_client = follow("order", "watch", "spring-launch", token=tokens["carol"])
        try:
            time.sleep(0.5)  # Both are past their first lines.
            ok("a comment while they follow", "comment", "spring-launch", "Watched?", token=sam)
            expect(read_until(tailing, "CommentAdded"),
                   "events tail --follow prints the new event as it is appended")
            spring_key = api.order("spring-launch", sam).key
            expect([line for line in tailing.seen.decode().splitlines() if "CommentAdded" in line
                    and (" order %s " % spring_key) in line],
                   "events tail names the order by its key: %r" % tailing.seen)
            expect(read_until(tailing_json, '"comment_added"'),
                   "events tail --json --follow prints the new event's payload")
            last = json.loads([line for line in tailing_json.seen.decode().splitlines()
                               if '"comment_added"' in line][-1])
            expect(last["payload"]["comment_added"]["text"] == "Watched?"
                   and len(last["hash"]) == 64,
                   "each followed event is a line of JSON with its fields: %s" % last)
            ok("a comment for the client while it follows", "comment", "spring-launch",
               "Casting this week", "--for-client", token=sam)
            expect(read_until(watching_client, "comment by sam: Casting this week"),
                   "order watch shows a client's login the comment for it: %r"
                   % getattr(watching_client, "seen", b""))
            expect(b"Watched?" not in watching_client.seen,
                   "and not the house's own: %r" % watching_client.seen)
            version = api.order("spring-launch", sam).version
            expect(read_until(watching, "etag %d:" % version),
                   "order watch prints the order after the change")
            expect(read_until(watching, "by sam: CommentAdded"),
                   "order watch says who made the change and what it was: %r"
                   % getattr(watching, "seen", b""))
        finally:
            for follower in (tailing, tailing_json, watching, watching_client):
                follower.kill()
                follower.wait()
        dashes = run_cli("comment", "spring-launch", "--", "--urgent")
        comments = api.order("spring-launch", admin).comments
        expect(dashes.returncode == 0 and comments and comments[-1].text == "--urgent",
               "after -- a word that starts with -- is an argument")
        expect(len(run_cli("order", "list", "--queue=false").stdout.splitlines())
               == len(run_cli("order", "list").stdout.splitlines()),
               "--queue=false is the same as no --queue")
        typo = run_cli("order", "list", "--status", "scrpt_review")
        expect(typo.returncode == 1 and "INVALID_ARGUMENT" in typo.stderr
               and "script_review" in typo.stderr,
               "a status no workflow has is refused with the states to choose from")
        # order show says what the caller can do next, and with which command.
        fresh = api.change("Orders", "CreateOrder", "create_order", commands_pb2.CreateOrder(
            kind=domain_pb2.PRODUCTION, client_id="acme", title="Next steps :30",
            spot_length_seconds=30, flight_start=domain_pb2.Date(year=2098, month=4, day=1),
            flight_end=domain_pb2.Date(year=2098, month=4, day=30)), sam)
        shown = run_cli("order", "show", fresh.id, token=pete).stdout
        expect("submit_script" in shown
               and "spotflow script submit %s --text TEXT" % fresh.key in shown,
               "order show lists the actions open to the caller with their commands:\n" + shown)
        queue = [line for line in run_cli("order", "list", "--queue", token=pete).stdout
                 .splitlines() if fresh.key + " " in line]
        expect(len(queue) == 1 and queue[0].rstrip().endswith("submit script"),
               "the producer's queue says what the new order waits for them to do: %r" % queue)
        expect(queue[0].startswith(fresh.id[:8] + "\u2026 "),
               "a generated id is cut short in a table, beside the key: %r" % queue)
        run_cli("script", "submit", fresh.id, "--text", "ANNCR: Line one\nSFX: door", token=pete)
        run_cli("changes", fresh.id, "script", "1", "--comment", "Shorter\ncomment by mia: fake",
                token=sam)
        latest = run_cli("order", "show", fresh.id, token=pete).stdout
        expect("  latest script r1 by pete" in latest and "ANNCR: Line one\n      SFX: door" in latest
               and "changes asked by sam: Shorter\n        comment by mia: fake" in latest,
               "order show prints the latest script and what was asked of it, later lines "
               "indented so that none reads as an entry of its own:\n" + latest)
        expect("\ncomment by" not in run_cli("order", "history", fresh.id, token=pete).stdout,
               "order history indents a comment's later lines too")
        board = [line for line in run_cli("order", "list", "--waiting", token=mia).stdout
                 .splitlines() if fresh.key + " " in line]
        expect(len(board) == 1 and board[0].rstrip().endswith("pete: submit script"),
               "order list --waiting says whom each order waits for: %r" % board)
        done_row = [line for line in run_cli("order", "list", "--waiting", "--archived", "include",
                                             token=mia).stdout.splitlines() if created.key + " " in line]
        expect(len(done_row) == 1 and done_row[0].rstrip().endswith(" -"),
               "order list --waiting shows - for an order that is done: %r" % done_row)
        # The demo's spot in review goes to globex's contact gus, who has no login of his own.
        forwarded = run_cli("forward", "weekly-deals", "spot", "1", "--contact", "gus")
        expect(forwarded.returncode == 0, "forward to a contact: " + forwarded.stderr)
        weekly = run_cli("order", "show", "weekly-deals").stdout
        expect("contacts to forward to: gus (" in weekly and "; has it)" in weekly,
               "order show marks the contact the revision waits on:\n" + weekly)
        to_client = [line for line in run_cli("order", "list", "--waiting", token=mia).stdout
                     .splitlines() if line.startswith("weekly-deals ")]
        expect(len(to_client) == 1 and to_client[0].rstrip().endswith("client (gus): answer spot 1"),
               "order list --waiting names the client's contact a forwarded spot waits for: %r"
               % to_client)
        # Forwarded to a second contact, it waits on both: either may answer.
        ok("a second contact at globex", "contact", "add", "globex", "--id", "hal", "--name",
           "Hal", token=mia)
        before = api.head(admin)
        hal_again = run_cli("contact", "add", "globex", "--name", "Hal", token=mia)
        expect(hal_again.returncode == 1 and "ALREADY_EXISTS" in hal_again.stderr
               and "already has Hal as contact \"hal\"" in hal_again.stderr
               and api.head(admin) == before,
               "the same contact added again is refused, writing nothing: " + hal_again.stderr)
        ok("the spot to hal too", "forward", "weekly-deals", "spot", "1", "--contact", "hal",
           token=mia)
        weekly = run_cli("order", "show", "weekly-deals").stdout
        expect(re.search(r"contacts to forward to: .*gus \([^)]*; has it\)", weekly)
               and re.search(r"contacts to forward to: .*hal \([^)]*; has it\)", weekly)
               and "waits for the client's answer: spot 1 was forwarded to gus and hal" in weekly,
               "order show says the spot waits on both contacts:\n" + weekly)
        to_client = [line for line in run_cli("order", "list", "--waiting", token=mia).stdout
                     .splitlines() if line.startswith("weekly-deals ")]
        expect(len(to_client) == 1 and to_client[0].rstrip().endswith(
                   "client (gus): answer spot 1; client (hal): answer spot 1"),
               "order list --waiting names both: %r" % to_client)
        ok("hal answers", "client-answer", "weekly-deals", "spot", "1", "changes", "--contact",
           "hal", "--comment", "Louder", token=mia)
        weekly = run_cli("order", "show", "weekly-deals").stdout
        expect("; has it)" not in weekly and "waits for the client's answer" not in weekly,
               "once one answers, the spot waits on neither:\n" + weekly)
        not_told = run_cli("order", "list", "--waiting", token=tokens["carol"])
        expect(not_told.returncode == 1 and "PERMISSION_DENIED" in not_told.stderr
               and "staff" in not_told.stderr,
               "a contact's login is refused a board of who has the ball: " + not_told.stderr)
        by_assignee = run_cli("order", "stats", "--assigned", "pete", token=mia)
        unknown_assignee = run_cli("order", "stats", "--assigned", "nobody", token=mia)
        expect(by_assignee.returncode == 0 and re.match(r"\d+ orders? \(", by_assignee.stdout)
               and unknown_assignee.returncode == 1 and "NOT_FOUND" in unknown_assignee.stderr,
               "order stats --assigned counts one person's orders: " + by_assignee.stdout
               + unknown_assignee.stderr)
        board = run_cli("order", "stats", "--per-assignee", token=mia)
        board_rows = [re.split(r"\s{2,}", line)[0] for line in board.stdout.splitlines()
                      if re.match(r"\S", line)]
        expect(board.returncode == 0 and re.search(r"\nASSIGNED TO +OPEN +SET ASIDE +ENDED IN",
                                                   board.stdout)
               and "ann" in board_rows and "(no one)" in board_rows and "(all)" in board_rows
               and board_rows.index("ann") < board_rows.index("(no one)")
               < board_rows.index("(all)"),
               "order stats --per-assignee gives each assignee's book, then the unassigned "
               "orders', then all of them:\n" + board.stdout + board.stderr)
        typed_report = run_cli("order", "stats", "--type", "media_request", token=mia)
        expect(typed_report.returncode == 0 and typed_report.stdout.startswith("1 order ("),
               "order stats --type counts that type's orders: " + typed_report.stdout
               + typed_report.stderr)
        valued = run_cli("order", "stats", "--type", "media_request", "--field", "budget",
                         token=mia)
        valued_rows = [line.split() for line in valued.stdout.splitlines()]
        expect(valued.returncode == 0 and "budget: summed, then averaged" in valued.stdout
               and ["OWNER", "OPEN", "OPEN", "budget", "SET", "ASIDE"] == valued_rows[-2][:6]
               and valued_rows[-1][:3] == ["sam", "1", "900"],
               "order stats --field sums a whole-number field over each owner's orders:\n"
               + valued.stdout + valued.stderr)
        grouped = run_cli("order", "stats", "--type", "ad_request", "--by", "station", token=mia)
        expect(grouped.returncode == 0
               and "\nThe finished orders by station (-: none given)\n" in grouped.stdout
               and re.search(r"\nsam +declined \(abandoned\) +- +1\n +WXYZ +1\n",
                             grouped.stdout),
               "order stats --by counts the finished orders by a text field:\n"
               + grouped.stdout + grouped.stderr)
        summed = run_cli("order", "stats", "--type", "ad_request", "--by", "station", "--field",
                         "value", token=mia)
        expect(summed.returncode == 0
               and "\nThe finished orders by station (-: none given); value summed and averaged "
               "over each's\n" in summed.stdout
               and re.search(r"\nOWNER +ENDED IN +station +ORDERS +value SUM +value AVERAGE\n"
                             r"sam +declined \(abandoned\) +- +1 +- +-\n +WXYZ +1 +5,000 +5,000.00\n",
                             summed.stdout),
               "order stats --by with --field sums the field by the text field's value:\n"
               + summed.stdout + summed.stderr)
        # By when they ended (deals won and lost this quarter): yesterday on, whatever the hour.
        yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
        two_days_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400))
        ended = run_cli("order", "stats", "--type", "ad_request", "--ended-since", yesterday,
                        token=mia)
        expect(ended.returncode == 0
               and ended.stdout.startswith("2 orders that ended on or after %s (" % yesterday)
               and re.search(r"\nsam +0 +0 +declined \(abandoned\) +2 ", ended.stdout),
               "order stats --ended-since counts the orders that ended since, not the open "
               "ones:\n" + ended.stdout + ended.stderr)
        # Without --type: each workflow's states apart, though two have an awaiting_script.
        everything = run_cli("order", "stats", token=mia)
        expect(everything.returncode == 0
               and re.search(r"\nWORKFLOW +STATE +NOW +STAYS ", everything.stdout)
               and re.search(r"\nproduction_order +awaiting_script +1 ", everything.stdout)
               and re.search(r"\nrequest_flow +awaiting_script +0 ", everything.stdout)
               and re.search(r"\nsam +\d+ +0 +production_order: completed +\d+ .*\n +"
                             r"request_flow: declined \(abandoned\) +2 ", everything.stdout),
               "order stats over several workflows names each state's workflow:\n"
               + everything.stdout + everything.stderr)
        none_ended = run_cli("order", "stats", "--ended-until", two_days_ago, token=mia)
        expect(none_ended.returncode == 0
               and none_ended.stdout.startswith("0 orders that ended on or before %s ("
                                                % two_days_ago),
               "order stats --ended-until counts none ended before the run:\n"
               + none_ended.stdout + none_ended.stderr)
        before = api.head(admin)
        backwards_ended = run_cli("order", "stats", "--ended-since", yesterday, "--ended-until",
                                  two_days_ago, token=mia)
        expect(backwards_ended.returncode == 2
               and "--ended-until %s comes before --ended-since %s" % (two_days_ago, yesterday)
               in backwards_ended.stderr,
               "an ended range that ends before it starts is a usage error: "
               + backwards_ended.stderr)
        unvalued = run_cli("order", "stats", "--field", "budget", token=mia)
        expect(unvalued.returncode == 2
               and "--field names a field of one item type: give --type too" in unvalued.stderr,
               "a field to sum needs its type: " + unvalued.stderr)
        twice_by = run_cli("order", "stats", "--type", "ad_request", "--by", "station", "--by",
                           "contract_number", token=mia)
        expect(twice_by.returncode == 2 and "--by is given twice; give it once" in twice_by.stderr,
               "an option given twice is refused, not half ignored: " + twice_by.stderr)
        backwards = run_cli("order", "stats", "--since", "2026-12-07", "--until", "2026-12-01",
                            token=mia)
        expect(backwards.returncode == 2
               and "--until 2026-12-01 comes before --since 2026-12-07" in backwards.stderr,
               "a range that ends before it starts is refused in the flags' words: "
               + backwards.stderr)
        expect(api.head(admin) == before, "the refused stats and flags wrote nothing")
        report = run_cli("order", "stats", token=mia)
        expect(report.returncode == 0 and "STATE" in report.stdout and "AVERAGE STAY" in report.stdout
               and "\nsam " in report.stdout and " of them archived (as of " in report.stdout
               and "ENDED IN" in report.stdout and " completed " in report.stdout
               and " declined (abandoned) " in report.stdout
               and "\n(team) " in report.stdout
               and "\nOPEN: under way; SET ASIDE: archived before they finished; " in report.stdout
               and "\nNOW: orders in the state, not counting archived ones; STAYS: "
               in report.stdout,
               "order stats prints states and owners, and what its columns count:\n"
               + report.stdout + report.stderr)
        # Seed 002: the sales manager sets what the team is measured against.
        # The server's clock is the real one: this year holds the orders made in this run.
        year = time.gmtime().tm_year
        this_year = "%d-01-01..%d-12-31" % (year, year)
        ok("a budget for sam", "budget", "set", "sam", "--title", "Orders this year", "--period",
           this_year, "--target", "40", token=mia)
        ok("a budget's target changed alone", "budget", "set", "--id", "sam-orders-this-year",
           "--target", "45", token=mia)
        not_hers = run_cli("budget", "set", "pete", "--title", "Spots", "--period",
                           this_year, "--target", "5", token=mia)
        expect(not_hers.returncode == 1 and "PERMISSION_DENIED" in not_hers.stderr
               and "is not in their team" in not_hers.stderr,
               "a manager sets budgets for their team only: " + not_hers.stderr)
        own = run_cli("budget", "list", token=sam)
        rows = [line.split() for line in own.stdout.splitlines()[2:]]
        expect(own.returncode == 0 and len(rows) == 1 and rows[0][0] == "sam-orders-this-year"
               and rows[0][1] == "sam" and this_year in rows[0]
               and "45" in rows[0] and "40" not in rows[0]
               and own.stdout.splitlines()[1].split()[0] == "ID",
               "a member reads their budget and how far they have come:\n" + own.stdout)
        # Sam's declined requests (AR-001, AR-002) were made this year but are no sale.
        expect(rows[0][-2] == "2" and "ABANDONED: in the period but ended undone"
               in own.stdout,
               "budget list counts the declined request apart:\n" + own.stdout)
        kept = run_cli("budget", "remove", "sam-orders-this-year", token=sam)
        expect(kept.returncode == 1 and "PERMISSION_DENIED" in kept.stderr,
               "a member does not remove their own budget: " + kept.stderr)
        ok("the manager removes it", "budget", "remove", "sam-orders-this-year", token=mia)
        expect(run_cli("budget", "list", token=mia).stdout == "no budgets\n",
               "a removed budget leaves the list")
        # Orders done in the period (delivered, won), whenever they were made.
        ok("a budget of orders done", "budget", "set", "sam", "--title", "Delivered this year",
           "--period", this_year, "--target", "10", "--basis", "done", token=mia)
        done_list = run_cli("budget", "list", token=mia).stdout
        expect(" orders done " in done_list and "MEASURE: orders made in the period, or done in "
               "it" in done_list, "budget list says what a budget counts:\n" + done_list)
        ok("a budget of value", "budget", "set", "sam", "--title", "Value this year", "--period",
           this_year, "--target", "1250000", "--type", "ad_request", "--field", "value",
           token=mia)
        valued_list = run_cli("budget", "list", token=mia).stdout
        expect(re.search(r"sum of value \(ad_request\), made +1,250,000 +0 ", valued_list),
               "budget list groups an amount's thousands:\n" + valued_list)
        before = api.head(admin)
        odd_basis = run_cli("budget", "set", "sam", "--title", "X", "--period",
                            this_year, "--target", "1", "--basis", "won", token=mia)
        expect(api.head(admin) == before, "an unknown basis wrote nothing")
        expect(odd_basis.returncode == 2 and "--basis is made or done" in odd_basis.stderr,
               "an unknown basis is a usage error: " + odd_basis.stderr)
        ok("the done budget removed", "budget", "remove", "sam-delivered-this-year", token=mia)
        audited = run_cli("order", "show", fresh.id, token=aud).stdout
        expect("no workflow action is open to you now" in audited,
               "order show tells an auditor that nothing is open to them")
        expect("  waits for:\n    pete " in audited and "submit script" in audited.split(
            "waits for:")[-1], "order show says whom the order waits for, and to do what:\n"
               + audited)
        early = run_cli("action", fresh.id, "deliver", token=pete)
        expect(early.returncode == 1 and "FAILED_PRECONDITION" in early.stderr
               and "open to you now: submit_script" in early.stderr
               and "spotflow order show ORDER` lists the commands open to you" in early.stderr,
               "spotflow action refuses an action the order's state does not allow: "
               + early.stderr)
        expect("use its own command" in run_cli("action", fresh.id, "approve_script",
                                                 token=sam).stderr,
               "spotflow action leaves revision actions to their own commands")
        nothing = run_cli("order", "list", "--flight", "2001-01-01..2001-01-02", "--client", "acme")
        expect(nothing.returncode == 0 and "(no orders match)" in nothing.stdout,
               "an empty order list says so: %s" % nothing.stdout)
        typo = run_cli("order", "list", "--client", "no-such-client")
        expect(typo.returncode == 1 and "NOT_FOUND" in typo.stderr and "client list" in typo.stderr,
               "a filter on a client that does not exist is a typo, said so: %s" % typo.stderr)
        for empty in (",", "script_review, ,spot_review"):
            refused = run_cli("order", "list", "--status", empty)
            expect(refused.returncode == 2 and "none of them empty" in refused.stderr,
                   "--status %r is a usage error, not a list of every order" % empty)
        listed = json.loads(run_cli("order", "list", "--json", "--archived", "include",
                                    token=admin).stdout)["orders"]
        states = sorted({o["status"] for o in listed})[:2]
        either = run_cli("order", "list", "--json", "--archived", "include", "--status",
                         ",".join(states), token=admin)
        expect(len(states) == 2 and either.returncode == 0
               and sorted(o["order_id"] for o in json.loads(either.stdout)["orders"])
               == sorted(o["order_id"] for o in listed if o["status"] in states),
               "order list --status A,B lists the orders in either state: %s" % either.stdout)
        # (winter-again, on a 2099-12 flight, went to mia with globex's account; winter-sale
        # keeps the demo's flight, next month when the demo was seeded.)
        demo = api.order("winter-sale", admin)
        demo_end = demo.flight_end
        import datetime
        def next_month(day):
            first = (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
            last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
            return ((first.year, first.month, first.day), (last.year, last.month, last.day))
        now = datetime.datetime.now(datetime.timezone.utc)
        flights = {next_month((now - datetime.timedelta(minutes=m)).date()) for m in (0, 10)}
        expect(((demo.flight_start.year, demo.flight_start.month, demo.flight_start.day),
                (demo_end.year, demo_end.month, demo_end.day)) in flights,
               "the demo's orders fly next month, whenever it is seeded: %s..%s"
               % (demo.flight_start, demo_end))
        late = run_cli("order", "list", "--flight", "2099-12-01..", token=admin).stdout
        early = run_cli("order", "list", "--flight", "..%04d-%02d-%02d"
                        % (demo_end.year, demo_end.month, demo_end.day), token=admin).stdout
        expect("winter-again" in late and "winter-sale" not in late
               and "winter-sale" in early and "winter-again" not in early,
               "order list --flight lists the orders whose flight overlaps it:\n%s\n%s"
               % (late, early))
        rows = run_cli("order", "list").stdout.splitlines()
        expect(rows[0].split()[:2] == ["ID", "KEY"] and len(rows) > 1,
               "order list shows each order's id beside its key")
        first_id = rows[1].split()[0]
        expect(run_cli("order", "show", first_id).returncode == 0,
               "the id order list shows is what order show takes")
        tail = run_cli("events", "tail", "--limit", "2", token=aud).stdout.splitlines()
        expect(len(tail) == 3 and tail[0].split()[:3] == ["POS", "TIME", "(UTC)"]
               and int(tail[-1].split()[0]) == api.head(admin),
               "events tail shows the latest events under a header, ending at the log's head")
        expect(re.fullmatch(r"\d{4}-\d\d-\d\d", tail[-1].split()[1]) is not None,
               "events tail shows when each event was recorded (%s)" % tail[-1])
        past = run_cli("events", "tail", "--from", "999999", token=aud)
        expect(past.returncode == 0 and "the log ends at position %d" % api.head(admin)
               in past.stdout, "events tail from past the head says where the log ends (%s)"
               % past.stdout.strip())
        linked = run_cli("user", "create", "dave", "--name", "Dave at Acme", "--role",
                         "client_contact", "--client", "acme", "--contact", "carol", token=admin)
        users = json.loads(run_cli("--json", "user", "list", token=admin).stdout)["users"]
        dave = [u for u in users if u["user_id"] == "dave"]
        expect(linked.returncode == 0 and dave and dave[0].get("client_id") == "acme"
               and dave[0].get("contact_id") == "carol",
               "user create --client --contact makes a client contact's own login")

        # Reflection lists the services (raw bytes: Debian ships no reflection client module).
        reflection = api.channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        answer = b"".join(reflection(iter([b"\x3a\x00"]), timeout=10))
        expect(b"spotflow.v1.Orders" in answer and b"spotflow.v1.Events" in answer,
               "server reflection lists the spotflow.v1 services")
        health = api.channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=10)
        expect(health == b"\x08\x01", "grpc.health.v1 says SERVING")

        # Bad input over the wire: the code, nothing written, the server still up.
        bad = service_pb2.CreateOrderRequest(create_order=commands_pb2.CreateOrder(
            kind=domain_pb2.PRODUCTION, client_id="acme", title="x",
            flight_start=domain_pb2.Date(year=2098, month=1, day=9),
            flight_end=domain_pb2.Date(year=2098, month=1, day=1)))
        expect_code(api, admin, grpc.StatusCode.UNAUTHENTICATED, "no token",
                    lambda: api.call("Orders", "CreateOrder", bad, commands_pb2.CommandResult, ""))
        expect_code(api, admin, grpc.StatusCode.UNAUTHENTICATED, "a wrong token",
                    lambda: api.call("Orders", "CreateOrder", bad, commands_pb2.CommandResult,
                                     "0" * 64))
        expect_code(api, admin, grpc.StatusCode.INVALID_ARGUMENT, "a flight ending before it starts",
                    lambda: api.call("Orders", "CreateOrder", bad, commands_pb2.CommandResult, sam))
        past = service_pb2.CreateOrderRequest()
        past.create_order.CopyFrom(bad.create_order)
        past.create_order.flight_start.CopyFrom(domain_pb2.Date(year=2020, month=1, day=1))
        past.create_order.flight_end.CopyFrom(domain_pb2.Date(year=2020, month=1, day=31))
        expect_code(api, admin, grpc.StatusCode.INVALID_ARGUMENT, "a flight that has passed",
                    lambda: api.call("Orders", "CreateOrder", past, commands_pb2.CommandResult, sam))
        expect_code(api, admin, grpc.StatusCode.INVALID_ARGUMENT, "a missing body",
                    lambda: api.call("Orders", "CreateOrder", service_pb2.CreateOrderRequest(),
                                     commands_pb2.CommandResult, sam))
        unknown_enum = service_pb2.CreateOrderRequest()
        unknown_enum.create_order.CopyFrom(bad.create_order)
        unknown_enum.create_order.flight_end.CopyFrom(domain_pb2.Date(year=2098, month=1, day=31))
        unknown_enum.create_order.kind = 77
        expect_code(api, admin, grpc.StatusCode.INVALID_ARGUMENT, "an unknown enum value",
                    lambda: api.call("Orders", "CreateOrder", unknown_enum,
                                     commands_pb2.CommandResult, sam))
        # Over the 4 MiB message limit in a field the engine never sees whole (the request
        # id is checked after the size), so only the server's size check can refuse it.
        big = service_pb2.UpdateContactRequest()
        big.update_contact.client_id = "acme"
        big.update_contact.contact.contact_id = "carol"
        big.update_contact.contact.name = "Carol"
        big.request_id = "y" * (5 << 20)

        def oversized():
            try:
                api.call("Clients", "UpdateContact", big, commands_pb2.CommandResult, sam)
            except grpc.RpcError as error:
                expect(error.details().startswith("the request is"),
                       "the size check itself refused it")
                raise
        expect_code(api, admin, grpc.StatusCode.INVALID_ARGUMENT, "an oversized message",
                    oversized)
        masked = service_pb2.UpdateContactRequest()
        masked.update_contact.client_id = "acme"
        masked.update_contact.contact.contact_id = "carol"
        masked.update_mask.paths.append("contact.contact_id")
        expect_code(api, admin, grpc.StatusCode.INVALID_ARGUMENT, "a mask naming the contact's id",
                    lambda: api.call("Clients", "UpdateContact", masked,
                                     commands_pb2.CommandResult, sam))
        expect_code(api, admin, grpc.StatusCode.ABORTED, "a stale etag",
                    lambda: api.change("Orders", "AddComment", "add_comment",
                                       commands_pb2.AddComment(order_id="winter-sale", text="hi"),
                                       sam, etag=1000))
        # Its reason, for programs, in the standard trailer: a google.rpc.Status whose details
        # hold a google.rpc.ErrorInfo (proto/error.proto has the same fields).
        try:
            api.change("Orders", "AddComment", "add_comment",
                       commands_pb2.AddComment(order_id="winter-sale", text="hi"), sam, etag=1000)
        except grpc.RpcError as error:
            trailer = dict(error.trailing_metadata() or ())
            details = error_pb2.RpcStatus.FromString(trailer.get("grpc-status-details-bin", b""))
            # (Not Any.Unpack, which wants the message named google.rpc.ErrorInfo.)
            info = error_pb2.ErrorInfo.FromString(details.details[0].value if details.details
                                                  else b"")
            expect(details.code == grpc.StatusCode.ABORTED.value[0]
                   and details.message == error.details() and len(details.details) == 1
                   and details.details[0].type_url == "type.googleapis.com/google.rpc.ErrorInfo"
                   and info.reason == "ETAG_MISMATCH"
                   and info.domain == "spotflow" and info.metadata["etag"] == "1000",
                   "a stale etag's reason is in grpc-status-details-bin: %s %s"
                   % (details, info))
        else:
            raise SystemExit("FAILED: a stale etag was accepted")
        expect_code(api, admin, grpc.StatusCode.PERMISSION_DENIED, "a role without the privilege",
                    lambda: api.change("Orders", "DeleteOrder", "delete_order",
                                       commands_pb2.DeleteOrder(order_id="winter-sale"),
                                       tokens["ann"]))
        before = api.head(admin)
        not_ann = run_cli("delete", "winter-sale", "--yes", token=tokens["ann"])
        expect(not_ann.returncode == 1 and "ask one who may do it: sam (its owner)" in
               not_ann.stderr and api.head(admin) == before,
               "an assistant refused is sent to the AE whose order it is: " + not_ann.stderr)
        malformed = api.channel.unary_unary("/spotflow.v1.Orders/CreateOrder")
        expect_code(api, admin, grpc.StatusCode.INVALID_ARGUMENT, "malformed bytes",
                    lambda: malformed(b"\xff\xff\xff\xff\x0f",
                                      metadata=[("authorization", "Bearer " + sam)], timeout=10))
        for stream in ("Orders/WatchOrder", "Events/SubscribeEvents", "Audit/Verify",
                       "Audit/Export", "Audit/CheckDeterminism"):
            def read_all(stream=stream):
                replies = api.channel.unary_stream("/spotflow.v1." + stream)(
                    b"\xff\xff\xff\xff\x0f", metadata=[("authorization", "Bearer " + admin)],
                    timeout=10)
                return list(replies)
            try:
                read_all()
            except grpc.RpcError as error:
                expect(error.code() == grpc.StatusCode.INVALID_ARGUMENT
                       and "its bytes do not parse" in error.details(),
                       "malformed bytes on the stream %s -> %s (%s)" % (
                           stream, error.code().name, error.details()))
            else:
                raise SystemExit("FAILED: malformed bytes on %s were accepted" % stream)
        expect_code(api, admin, grpc.StatusCode.NOT_FOUND, "an order that does not exist",
                    lambda: api.order("no-such-order", sam))

        # A second server on the same data directory is refused with a clear message.
        second = subprocess.run([spotflowd, "--listen=127.0.0.1:0", "--data-dir=" + data_dir],
                                capture_output=True, text=True, timeout=30)
        expect(second.returncode != 0 and "in use by another process" in second.stdout + second.stderr,
               "a second spotflowd on the same directory exits non-zero, saying why")
        # A directory of someone else's files (a mistyped --data-dir) is not seeded.
        foreign = tempfile.mkdtemp(prefix="spotflow-foreign-")
        with open(os.path.join(foreign, "notes.txt"), "w") as out:
            out.write("not Spotflow's")
        refused = subprocess.run([spotflowd, "--listen=127.0.0.1:0", "--data-dir=" + foreign],
                                 capture_output=True, text=True, timeout=30)
        expect(refused.returncode == 1 and "is not a Spotflow data directory"
               in refused.stdout + refused.stderr and sorted(os.listdir(foreign)) == ["notes.txt"],
               "a directory of other files is refused and left as it was: "
               + refused.stdout + refused.stderr)
        shutil.rmtree(foreign)

        # Live feeds over the wire: a watcher of the order and a subscriber to the log get each
        # change; a drain ends both at once with UNAVAILABLE instead of waiting out its grace.
        def stream(service, method, request, response_type, token):
            call = api.channel.unary_stream(
                "/spotflow.v1.%s/%s" % (service, method),
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_type.FromString)
            return call(request, metadata=[("authorization", "Bearer " + token)], timeout=60)
        live = api.change("Orders", "CreateOrder", "create_order", commands_pb2.CreateOrder(
            kind=domain_pb2.PRODUCTION, client_id="acme", title="Live :15",
            spot_length_seconds=15, flight_start=domain_pb2.Date(year=2098, month=3, day=1),
            flight_end=domain_pb2.Date(year=2098, month=3, day=31)), sam)
        watch = stream("Orders", "WatchOrder", service_pb2.WatchOrderRequest(order_id=live.id),
                       domain_pb2.OrderView, sam)
        expect(next(watch).version == live.etag, "WatchOrder sends the order as it is")
        subscribe = stream("Events", "SubscribeEvents",
                           service_pb2.SubscribeEventsRequest(from_position=live.last_position + 1),
                           service_pb2.EventBatch, admin)
        done = api.change("Orders", "AddComment", "add_comment",
                          commands_pb2.AddComment(order_id=live.id, text="Live from the wire"), sam)
        expect(next(watch).version == done.etag, "the watcher gets the change")
        expect(next(subscribe).events[0].position == done.first_position,
               "the subscriber gets the record")

        # The whole lists, to compare after the restart below.
        lists = {what: json.loads(run_cli("--json", what, "list", token=admin).stdout)
                 for what in ("user", "client", "role")}
        # Restart: every state is there. The drain ends the live feeds first, with the
        # server's own status (not a dropped connection), well within its 5 s grace.
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        for name, feed in (("WatchOrder", watch), ("SubscribeEvents", subscribe)):
            try:
                for _ in feed:
                    pass
                expect(False, name + " ends with an error when the server drains")
            except grpc.RpcError as error:
                expect(error.code() == grpc.StatusCode.UNAVAILABLE
                       and "shutting down" in error.details(),
                       "%s ends UNAVAILABLE from the drain, not %s: %s"
                       % (name, error.code().name, error.details()))
                expect(time.monotonic() - stopping < 3,
                       name + " ends as the drain starts, not at its grace")
        expect(process.wait(timeout=30) == 0, "SIGTERM drains and exits 0")
        # Restarted with pages of 2, so that the CLI's lists of users and roles take several
        # pages each (two clients are left by now).
        process, port, _ = start(data_dir, demo=False, extra=["--max-page-size=2"])
        api = Api(port)
        expect(re.search(r"projections from \S+/engine.snapshot \(up to position %d\) and 0 "
                         r"records" % done.last_position, process.startup),
               "the restart starts from the snapshot the drain wrote, and says so:\n"
               + process.startup)
        again = api.order(order, sam)
        # Its type's title is the type's as defined since (an order follows its type's latest
        # definition): the rest is exactly as it was.
        expect(again.item_type_title == "Spot production" != view.item_type_title,
               "an order is shown with its type's title as the type now has it")
        view.item_type_title = again.item_type_title
        expect(again == view, "after a restart the order is exactly as it was")
        expect(api.head(admin) == done.last_position,
               "the log is whole after the restart")
        for what, whole in lists.items():
            entries = next(v for k, v in whole.items() if k != "next_page_token")
            paged = run_cli("--json", what, "list", token=admin)
            expect((len(entries) > 2 or what == "client") and paged.returncode == 0
                   and json.loads(paged.stdout) == whole,
                   "%s list follows the pages of 2 to the whole list: %s"
                   % (what, paged.stdout + paged.stderr + json.dumps(whole)))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    tls()
    operations()
    token_files()
    reconnecting()
    notifying()
    print("e2e: all passed")


def operations():
    """SIGHUP reloads the token file; a closed stdout does not kill the server."""
    import hashlib
    work = tempfile.mkdtemp(prefix="spotflow-ops-")
    process, port, tokens = start(os.path.join(work, "data"), demo=False)
    try:
        api = Api(port)
        # A token added to the file by hand (as another server sharing it would) works once
        # the server is told to read the file again; the server stays up through SIGHUP.
        token = "e2e-" + "7" * 60
        with open(os.path.join(work, "data", "tokens"), "a") as f:
            f.write(hashlib.sha256(token.encode()).hexdigest() + " admin\n")
        ping = lambda: api.call("Events", "Ping", service_pb2.PingRequest(),
                                service_pb2.PingResponse, token)
        try:
            ping()
            raise SystemExit("FAILED: a token was taken before SIGHUP")
        except grpc.RpcError as error:
            expect(error.code() == grpc.StatusCode.UNAUTHENTICATED, "a new line waits for SIGHUP")
        process.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while True:
            try:
                ping()
                break
            except grpc.RpcError:
                if time.time() > deadline:
                    raise SystemExit("FAILED: SIGHUP did not reload the token file")
                time.sleep(0.1)
        expect(process.poll() is None, "SIGHUP reloads the token file and the server stays up")
        # Nobody reads stdout any more: refused calls are still logged (to a closed pipe) and
        # the server keeps serving instead of dying of SIGPIPE.
        process.stdout.close()
        for _ in range(50):
            try:
                api.call("Events", "Ping", service_pb2.PingRequest(), service_pb2.PingResponse,
                         "not-a-token")
            except grpc.RpcError:
                pass
        ping()
        expect(process.poll() is None, "a closed stdout does not stop the server")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            expect(process.wait(timeout=30) == 0, "SIGTERM still drains and exits 0")
        finally:
            if process.poll() is None:
                process.kill()
            shutil.rmtree(work, ignore_errors=True)


def tls():
    """--tls-cert/--tls-key: a TLS client with the certificate gets in; plaintext does not."""
    work = tempfile.mkdtemp(prefix="spotflow-tls-")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    # TLS files that cannot work are refused before anything listens, saying which and why.
    other_cert, other_key = os.path.join(work, "other.pem"), os.path.join(work, "other.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    other_key, "-out", other_cert, "-days", "1", "-subj", "/CN=other"],
                   check=True, capture_output=True)
    garbage = os.path.join(work, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("not a certificate\n")
    for flags, says in [(["--tls-cert=" + cert], "--tls-cert and --tls-key go together"),
                        (["--tls-cert=" + garbage, "--tls-key=" + key], "holds no PEM certificate"),
                        (["--tls-cert=" + cert, "--tls-key=" + garbage], "holds no PEM private key"),
                        (["--tls-cert=" + cert, "--tls-key=" + other_key],
                         "is not the key of the TLS certificate"),
                        (["--tls-cert=" + work, "--tls-key=" + key], "not a readable file"),
                        (["--max-page-size=0"], "it must be 1 to 10000"),
                        (["--max-page-size=10001"], "it must be 1 to 10000")]:
        refused = subprocess.run([spotflowd, "--listen=127.0.0.1:0",
                                  "--data-dir=" + os.path.join(work, "refused")] + flags,
                                 capture_output=True, text=True, timeout=30)
        expect(refused.returncode == 1 and says in refused.stdout + refused.stderr,
               "spotflowd %s: %s" % (" ".join(f.split("=")[0] for f in flags), says))
    expect(not os.path.exists(os.path.join(work, "refused", "tokens")),
           "a refused start issued no token")
    process, port, tokens = start(os.path.join(work, "data"), demo=False,
                                  extra=["--tls-cert=" + cert, "--tls-key=" + key])
    try:
        with open(cert, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        secure = Api(port, credentials)
        secure.call("Events", "Ping", service_pb2.PingRequest(), service_pb2.PingResponse,
                    tokens["admin"])
        expect(True, "a TLS client reaches a --tls-cert server")
        try:
            Api(port).call("Events", "Ping", service_pb2.PingRequest(),
                           service_pb2.PingResponse, tokens["admin"])
        except grpc.RpcError as error:
            expect(error.code() == grpc.StatusCode.UNAVAILABLE,
                   "a plaintext client cannot talk to it (%s)" % error.code().name)
        else:
            raise SystemExit("FAILED: plaintext reached a TLS server")
        process.send_signal(signal.SIGTERM)
        logged = process.stdout.read()
        expect(re.search(r"Z warning grpc: Handshake failed", logged) is not None
               and "Z error " not in logged,
               "the plaintext client's failed handshake is logged as a warning, not an error:\n"
               + logged)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    # --tls-client-ca: only clients with a certificate that CA signed get in.
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)
    ca_key, ca = os.path.join(work, "ca.key"), os.path.join(work, "ca.pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "1", "-subj", "/CN=spotflow-test-ca")
    client_key, client_csr = os.path.join(work, "client.key"), os.path.join(work, "client.csr")
    client_cert = os.path.join(work, "client.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", client_key, "-out", client_csr,
            "-subj", "/CN=spotflow-client")
    openssl("x509", "-req", "-in", client_csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", client_cert, "-days", "1")
    process, port, tokens = start(os.path.join(work, "data-mtls"), demo=False,
                                  extra=["--tls-cert=" + cert, "--tls-key=" + key,
                                         "--tls-client-ca=" + ca])
    try:
        read = lambda path: open(path, "rb").read()
        with_cert = grpc.ssl_channel_credentials(root_certificates=read(cert),
                                                 private_key=read(client_key),
                                                 certificate_chain=read(client_cert))
        Api(port, with_cert).call("Events", "Ping", service_pb2.PingRequest(),
                                  service_pb2.PingResponse, tokens["admin"])
        expect(True, "a client with a certificate the client CA signed gets in")
        without = grpc.ssl_channel_credentials(root_certificates=read(cert))
        try:
            Api(port, without).call("Events", "Ping", service_pb2.PingRequest(),
                                    service_pb2.PingResponse, tokens["admin"])
        except grpc.RpcError as error:
            expect(error.code() == grpc.StatusCode.UNAVAILABLE,
                   "a TLS client without a certificate is refused (%s)" % error.code().name)
        else:
            raise SystemExit("FAILED: a client without a certificate got in")
        # The CLI with its own certificate.
        listed = subprocess.run([cli, "--server=localhost:%d" % port, "--token=" + tokens["admin"],
                                 "--tls-ca=" + cert, "--tls-cert=" + client_cert,
                                 "--tls-key=" + client_key, "role", "list"],
                                capture_output=True, text=True, timeout=30)
        expect(listed.returncode == 0 and "account_executive" in listed.stdout,
               "spotflow --tls-ca --tls-cert --tls-key talks to it")
        # TLS files that cannot work are named by the CLI, before gRPC's own lines.
        for flags, says in [(["--tls-ca=" + garbage], "--tls-ca %s holds no PEM certificate"
                             % garbage),
                            (["--tls-ca=" + cert, "--tls-cert=" + client_cert,
                              "--tls-key=" + other_key],
                             "--tls-key %s is not the key of --tls-cert %s"
                             % (other_key, client_cert)),
                            (["--tls-ca=" + cert, "--tls-cert=" + client_cert,
                              "--tls-key=" + garbage], "holds no PEM private key")]:
            bad = subprocess.run([cli, "--server=localhost:%d" % port,
                                  "--token=" + tokens["admin"]] + flags + ["role", "list"],
                                 capture_output=True, text=True, timeout=30)
            expect(bad.returncode == 1 and bad.stderr.startswith("spotflow: ")
                   and says in bad.stderr and len(bad.stderr.splitlines()) == 1,
                   "spotflow %s: %s, in one line: %s" % (" ".join(flags), says, bad.stderr))
        # Without its certificate, the CLI says the handshake failed, not that no server runs.
        bare = subprocess.run([cli, "--server=localhost:%d" % port, "--token=" + tokens["admin"],
                               "--tls-ca=" + cert, "role", "list"],
                              capture_output=True, text=True, timeout=30)
        expect(bare.returncode == 1 and "is spotflowd running" not in bare.stderr
               and ("TLS handshake" in bare.stderr or "UNAVAILABLE" not in bare.stderr),
               "a TLS failure is named as one: " + bare.stderr)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def token_files():
    """A --tokens that names no file is refused; tokens for users the log does not know are
    named in the log."""
    work = tempfile.mkdtemp(prefix="spotflow-tokens-")
    data = os.path.join(work, "data")
    try:
        process, _, _ = start(data, demo=False)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        # --demo on a directory that has a log seeds nothing, and says so.
        process, _, _ = start(data, demo=True)
        expect("--demo: %s holds a log already, so nothing is seeded" % data in process.startup,
               "--demo on a used directory says why it printed no tokens:\n" + process.startup)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        typo = subprocess.run([spotflowd, "--listen=127.0.0.1:0", "--data-dir=" + data,
                               "--tokens=" + os.path.join(work, "tokenz")],
                              capture_output=True, text=True, timeout=30)
        expect(typo.returncode == 1 and "tokenz does not exist, so none of this server's users "
               "could call it" in typo.stdout + typo.stderr
               and not os.path.exists(os.path.join(work, "tokenz")),
               "a --tokens that names no file is refused: " + typo.stdout + typo.stderr)
        with open(os.path.join(data, "tokens"), "a") as f:
            f.write(hashlib.sha256(b"ghost-token").hexdigest() + " ghost\n")
        process = subprocess.Popen([spotflowd, "--listen=127.0.0.1:0", "--data-dir=" + data],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        while True:
            line = process.stdout.readline()
            if not line or "serving spotflow.v1" in line:
                break
            lines.append(line)
        # A call with a bad token is logged as a warning with where it came from, never the token.
        port = int(re.search(r"\(port (\d+),", line).group(1))
        bad = "not-a-token-" + "9" * 20
        subprocess.run([cli, "--server=127.0.0.1:%d" % port, "--token=" + bad, "role", "list"],
                       capture_output=True, text=True, timeout=30)
        refused = process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        expect(" warning ListRoles by - from ipv4:127.0.0.1:" in refused
               and "UNAUTHENTICATED" in refused and bad not in refused,
               "a refused token is logged as a warning with the caller's address: " + refused)
        expect(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", refused) is not None,
               "log lines are stamped in UTC: " + refused)
        helped = subprocess.run([spotflowd, "--help"], capture_output=True, text=True, timeout=30)
        expect(helped.returncode == 0 and "--data-dir=DIR" in helped.stdout,
               "spotflowd --help prints the flags as they are typed")
        stray = subprocess.run([spotflowd, "--data-dir=" + data, "extra"], capture_output=True,
                               text=True, timeout=30)
        expect(stray.returncode == 2 and 'unexpected argument "extra"' in stray.stderr,
               "a stray argument is refused, not ignored: " + stray.stderr)
        expect(any("holds tokens for users this server does not know (ghost)" in line
                   for line in lines), "a token for an unknown user is named at start:\n"
               + "".join(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def reconnecting():
    """The CLI's live feeds outlive a restart of the server: they follow again once it is back."""
    import select
    work = tempfile.mkdtemp(prefix="spotflow-reconnect-")
    data = os.path.join(work, "data")
    # Port 0 the first time; the restart takes the same port again (as an operator's would).
    process, port, tokens = start(data, demo=False)
    admin = tokens["admin"]
    tail = subprocess.Popen([cli, "--server=127.0.0.1:%d" % port, "--token=" + admin, "events",
                             "tail", "--limit", "1", "--follow"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read_until(needle, seconds):
        deadline, seen = time.time() + seconds, ""
        while time.time() < deadline and needle not in seen:
            if select.select([tail.stdout.fileno()], [], [], 0.2)[0]:
                chunk = os.read(tail.stdout.fileno(), 65536)
                if not chunk:
                    break
                seen += chunk.decode()
        return seen
    try:
        # Following: its first lines are out (a server stopped before would end it at once).
        first = read_until("TokenIssued", 20)
        expect("TokenIssued" in first, "events tail --follow prints the latest event: " + first)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        # A damaged snapshot is only a cache: the restart reads the whole log instead, and the
        # operator is told.
        with open(os.path.join(data, "engine.snapshot"), "wb") as snapshot:
            snapshot.write(b"\xff damaged")
        for attempt in range(5):  # The port may be held a moment longer.
            try:
                process, _, _ = start(data, demo=False, extra=["--listen=127.0.0.1:%d" % port])
                break
            except SystemExit:
                if attempt == 4:
                    raise
                time.sleep(0.5)
        expect(re.search(r" warning ignored \S+/engine.snapshot: it is not a snapshot "
                         r"Spotflow wrote .*rebuilt the projections from the whole log \(\d+ "
                         r"records\)", process.startup),
               "a damaged snapshot is named at start:\n" + process.startup)
        made = subprocess.run([cli, "--server=127.0.0.1:%d" % port, "--token=" + admin, "user",
                               "create", "after", "--name", "After Restart", "--role", "auditor"],
                              capture_output=True, text=True, timeout=30)
        expect(made.returncode == 0, "a change after the restart: " + made.stderr)
        seen = read_until("UserCreated", 20)
        expect("UserCreated" in seen and tail.poll() is None,
               "events tail --follow follows again after the server restarted:\n" + seen)
    finally:
        tail.kill()
        tail.wait(timeout=30)
        stderr = tail.stderr.read()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    expect("following again from position" in stderr,
           "it says it lost the server and will follow again: " + stderr)



def notifying():
    """`spotflow notify` tells each person what comes to wait for them, once (seed 001)."""
    work = tempfile.mkdtemp(prefix="spotflow-notify-")
    process, port, tokens = start(os.path.join(work, "data"), demo=True)
    state = os.path.join(work, "notify.state")

    def run_cli(*args, token=tokens["admin"]):
        return subprocess.run([cli, "--server=127.0.0.1:%d" % port, "--token=" + token]
                              + list(args), capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)

    def notify(*args):
        told = run_cli("notify", "--state", state, *args)
        expect(told.returncode == 0, "notify runs: " + told.stderr)
        return told.stdout

    def follow(*extra):
        """A `notify --json --follow` on the state, in the background."""
        return subprocess.Popen([cli, "--server=127.0.0.1:%d" % port, "--token=" + tokens["admin"],
                                 "--json", "notify", "--state", state, "--follow"] + list(extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read_until(follower, done, seconds, seen=""):
        """What the follower prints until done(seen) or `seconds` pass, added to `seen`."""
        deadline = time.time() + seconds
        while not done(seen) and time.time() < deadline:
            if select.select([follower.stdout.fileno()], [], [], 0.5)[0]:
                chunk = os.read(follower.stdout.fileno(), 1 << 20)
                if not chunk:
                    break
                seen += chunk.decode()
        return seen
    follower = None
    try:
        # First what waits for whom now: the demo's orders, at the log's end.
        now = notify()
        expect(re.search(r"\n\d+ +pete +PO-2026-00001 +submit script  \(Winter sales event :30\)\n",
                         now)
               and re.search(r"\n\d+ +sam +PO-2026-00002 +script 1: approve, changes, forward  ",
                             now),
               "notify starts with what waits for whom now:\n" + now)
        expect(notify().startswith("(nothing new: the log ends at position "),
               "a second run tells no one twice")
        expect(run_cli("comment", "spring-launch", "Looks good", token=tokens["sam"])
               .returncode == 0, "a comment")
        expect("PO-2026-00002" not in notify(), "a comment tells no one anew")
        expect(run_cli("approve", "spring-launch", "script", "1", token=tokens["sam"])
               .returncode == 0, "an approval")
        notices = [json.loads(line) for line in notify("--json").splitlines()]
        expect(sorted((n["user_id"], n["withdrawn"], n["waits_for"], n["by"])
                      for n in notices)
               == [("ann", True, "script 1: changes, forward", "sam"),
                   ("pete", False, "record spot", "sam"),
                   ("sam", True, "script 1: approve, changes, forward", "sam")],
               "an approval tells the producer the spot is theirs, and withdraws the script's "
               "reviews, by whom: %r" % notices)
        # A spot forwarded to the client's contact without a login: the contact is told.
        expect(run_cli("contact", "update", "globex", "gus", "--email", "gus@globex.example",
                       token=tokens["sam"]).returncode == 0, "gus's address")
        expect(run_cli("forward", "weekly-deals", "spot", "1", "--contact", "gus",
                       token=tokens["sam"]).returncode == 0, "a forward to gus")
        forwarded = notify()
        expect(re.search(r"\n\d+ +gus \(client globex\) <gus@globex.example> +PO-2026-00003 +answer "
                         r"spot 1  \(Weekly deals :15\)\n", forwarded)
               and re.search(r"\n\d+ +sam +PO-2026-00003 +no longer: spot 1: ", forwarded),
               "a contact without a login is told a spot waits for their answer:\n" + forwarded)
        # A new producer: every order is asked again, and what waits for producers is theirs too.
        expect(run_cli("user", "create", "paula", "--name", "Paula", "--email",
                       "paula@example.com", "--role", "producer").returncode == 0,
               "a new producer")
        hired = notify()
        expect(re.search(r"\n\d+ +paula <paula@example.com> +PO-2026-00001 +submit script  ", hired),
               "a new producer is told of the work that waits for producers:\n" + hired)
        # One who leaves is not told what no longer waits for them; back, they are told anew.
        expect(run_cli("user", "deactivate", "paula").returncode == 0, "paula leaves")
        gone = notify()
        expect("paula" not in gone, "one who has left is not told what no longer waits:\n" + gone)
        expect(run_cli("user", "reactivate", "paula").returncode == 0, "paula is back")
        back = notify()
        expect(re.search(r"\n\d+ +paula <paula@example.com> +PO-2026-00001 +submit script  ", back),
               "one who is back is told what waits for them:\n" + back)
        # A reassignment (seed 004): the new owner told what is now theirs, and whoever made it
        # told it is done.
        expect(run_cli("user", "create", "ava", "--name", "Ava", "--email", "ava@example.com",
                       "--role", "account_executive").returncode == 0, "a second AE")
        notify()
        expect(run_cli("accounts", "reassign", "sam", "ava", "--client", "globex",
                       token=tokens["mia"]).returncode == 0, "globex to ava")
        moves = [json.loads(line) for line in notify("--json").splitlines()]
        moves = [(n["user_id"], n["email"], n["by"], n["reassigned"]) for n in moves
                 if n["reassigned"]]
        expect(len(moves) == 3
               and moves[0][:3] == ("ava", "ava@example.com", "mia")
               and (moves[1][0], moves[1][2]) == ("sam", "mia")
               and (moves[2][0], moves[2][2]) == ("mia", "mia")
               and all(m[3]["to_owner"] == "ava" and m[3]["from_owners"] == ["sam"]
                       and m[3]["client_ids"] == ["globex"] and "PO-2026-00003" in m[3]["orders"]
                       for m in moves)
               and [m[3]["confirmation"] for m in moves] == [False, False, True]
               and [m[3]["given_away"] for m in moves] == [False, True, False],
               "a reassignment tells the new owner, the one who gave, and confirms it to "
               "whoever made it: %r" % moves)
        expect(run_cli("accounts", "reassign", "ava", "sam", "--client", "globex",
                       token=tokens["mia"]).returncode == 0, "globex back to sam")
        back = notify()
        expect(re.search(r"\n\d+ +sam( <[^>]*>)? +- +now yours: account globex; orders? "
                         r"PO-2026-00003.* \(from ava; by mia\)\n", back)
               and re.search(r"\n\d+ +ava( <[^>]*>)? +- +no longer yours: account globex; "
                             r"orders? PO-2026-00003.* \(now sam's; by mia\)\n", back)
               and re.search(r"\n\d+ +mia( <[^>]*>)? +- +done: account globex; orders? "
                             r"PO-2026-00003.* moved from ava to sam\n", back),
               "notify prints a move for people to read:\n" + back)
        # Several giving at once: the notice says whose each account was.
        expect(run_cli("client", "create", "--name", "Hooli", "--owner", "ava",
                       token=tokens["mia"]).returncode == 0, "an account of ava's")
        both = run_cli("accounts", "reassign", "sam,ava", "mia", "--client", "globex,hooli",
                       token=tokens["mia"])
        expect(both.returncode == 0, "globex and hooli to mia: " + both.stdout + both.stderr)
        several = notify()
        expect(re.search(r"\n\d+ +mia( <[^>]*>)? +- +done: accounts globex \(sam's\), hooli "
                         r"\(ava's\); orders? PO-2026-00003.* moved from ava and sam to mia\n",
                         several),
               "a move from several says whose each account was:\n" + several)
        expect(re.search(r"\n\d+ +sam( <[^>]*>)? +- +no longer yours: account globex; orders? "
                         r"PO-2026-00003.* \(now mia's; by mia\)\n", several)
               and re.search(r"\n\d+ +ava( <[^>]*>)? +- +no longer yours: account hooli "
                             r"\(now mia's; by mia\)\n", several),
               "each who gave is told what they gave, and only that:\n" + several)
        expect(re.search(r"\n\d+ +mia( <[^>]*>)? +- +done: [^\n]*PO-2026-00003 \(sam's\)", several),
               "a move from several says whose each order was:\n" + several)
        for _, command in ways_back(both.stdout):
            expect(run_cli(*command.split()[1:], token=tokens["mia"]).returncode == 0, command)
        returned = notify()
        expect("now yours: account globex" in returned and "now yours: account hooli" in returned
               and "no longer yours" not in returned,
               "one who gives their own accounts away is sent the confirmation alone:\n"
               + returned)
        # One who has left is not told what they no longer hold.
        expect(run_cli("user", "create", "kim", "--name", "Kim", "--email", "kim@example.com",
                       "--role", "account_executive").returncode == 0
               and run_cli("client", "create", "--name", "Initech", "--owner", "kim",
                           token=tokens["mia"]).returncode == 0
               and run_cli("user", "deactivate", "kim").returncode == 0
               and run_cli("accounts", "reassign", "kim", "sam", "--client", "initech",
                           token=tokens["mia"]).returncode == 0,
               "kim leaves, and her account goes to sam")
        left = notify()
        expect(re.search(r"\n\d+ +sam( <[^>]*>)? +- +now yours: account initech \(from kim; "
                         r"by mia\)\n", left)
               and "kim@example.com" not in left and "no longer yours" not in left,
               "one who has left is not told:\n" + left)
        # Spread over two: the one who gave, and the one who made it, are told the whole
        # command once, with who took each account (seed 004's one confirmation).
        with open(state) as kept:
            spread_from = json.load(kept)["next_position"]
        spread = run_cli("accounts", "reassign", "sam", "ava,mia", "--client", "globex,initech",
                         token=tokens["mia"])
        expect(spread.returncode == 0, "sam's two accounts spread: " + spread.stdout + spread.stderr)
        notices = [json.loads(line) for line in notify("--json").splitlines()]
        moved = [n for n in notices if n["reassigned"]]
        given = [n["reassigned"] for n in moved
                 if n["user_id"] == "sam" and n["reassigned"]["given_away"]]
        confirmed = [n["reassigned"] for n in moved if n["reassigned"]["confirmation"]]

        def taken_by(r):
            return dict(zip(r["client_ids"], r["client_to"] or [r["to_owner"]] * len(r["client_ids"])))
        expect(len(given) == 1 and len(confirmed) == 1
               and sorted(taken_by(confirmed[0])) == ["globex", "initech"]
               and set(taken_by(confirmed[0]).values()) <= {"ava", "mia"}
               and taken_by(given[0]) == taken_by(confirmed[0])
               and given[0]["from_owners"] == ["sam"],
               "a spread tells the one who gave and the one who made it once: %r" % notices)
        positions = [int(n["position"]) for n in notices]
        expect(positions == sorted(positions), "notices come in the log's order: %r" % positions)
        # As people read it: who took each, when several did.
        took = taken_by(confirmed[0])
        again = run_cli("notify", "--from", str(spread_from)).stdout
        if len(set(took.values())) == 2:
            lost = re.findall(r"^\d+ +sam( <[^>]*>)? +- +(no longer yours: accounts .*)$", again,
                              re.M)
            done = re.findall(r"^\d+ +mia( <[^>]*>)? +- +(done: accounts .*)$", again, re.M)
            expect(len(lost) == 1 and len(done) == 1
                   and lost[0][1].endswith(" (now ava and mia; by mia)")
                   and done[0][1].endswith(" moved from sam to ava and mia")
                   and all("%s (to %s)" % (client, whom) in line
                           for client, whom in took.items() for line in (lost[0][1], done[0][1])),
                   "a spread's notices say who took each account:\n" + again)
        else:
            expect("no longer yours: accounts globex, initech (now %s's; by mia)"
                   % took["globex"] in again, "a spread to one reads as a move:\n" + again)
        for _, command in ways_back(spread.stdout):
            expect(run_cli(*command.split()[1:], token=tokens["mia"]).returncode == 0, command)
        notify()
        # Following: an order deleted withdraws what it waited for, at once.
        follower = follow()
        time.sleep(1)
        with open(state) as kept:
            before_second = kept.read()
        second = run_cli("notify", "--state", state)
        expect(second.returncode == 1 and "another spotflow notify is running on " in second.stderr
               and "two would tell people twice" in second.stderr and second.stdout == "",
               "a second run on a state in use is refused: " + second.stderr + second.stdout)
        with open(state) as kept:
            expect(kept.read() == before_second, "the refused run left the state as it was")
        expect(run_cli("delete", "winter-sale", "--yes", token=tokens["sam"]).returncode == 0,
               "a deletion")
        seen = read_until(follower, lambda seen: seen.count("\n") >= 2, 20)
        withdrawn = [json.loads(line) for line in seen.splitlines()]
        expect(sorted(n["user_id"] for n in withdrawn) == ["paula", "pete"]
               and all(n["withdrawn"] and n["order_id"] == "winter-sale"
                       and n["key"] == "PO-2026-00001" and n["title"] == "Winter sales event :30"
                       for n in withdrawn),
               "a deleted order withdraws its waits, as followed, named by its key and title as "
               "last seen: %r" % withdrawn)
        follower.kill()
        follower.wait(timeout=30)
        follower = None
        # A wait that ends with time alone (an account shared until a moment), with no event:
        # --recheck asks every order again, and ava's withdrawal follows the share's end.
        expect(run_cli("order", "create", "--id", "summer", "--title", "Summer sale",
                       "--client", "acme", "--flight", "2099-06-01..2099-06-30", "--length", "30",
                       token=tokens["sam"]).returncode == 0
               and run_cli("script", "submit", "summer", "--text", "Sun!", token=tokens["pete"])
               .returncode == 0, "a script that waits for the account's people")
        notify()
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5))
        expect(run_cli("client", "share", "acme", "ava", "--until", until, token=tokens["sam"])
               .returncode == 0, "acme shared with ava for a few seconds")
        follower = follow("--recheck", "1")
        seen = read_until(follower, lambda seen: '"withdrawn":true' in seen, 30)
        follower.kill()
        follower.wait(timeout=30)
        follower = None
        shared = [json.loads(line) for line in seen.splitlines() if line.startswith("{")]
        expect([(n["user_id"], n["withdrawn"]) for n in shared if n["user_id"] == "ava"]
               == [("ava", False), ("ava", True)]
               and time.time() > calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ")),
               "a share's end, with no event, is seen by --recheck: %r" % shared)
        # A whole book larger than a batch (100 events) or a page (500): each person is told
        # once, whole (seed 004's one confirmation), followed and caught up alike.
        api = Api(port)
        made = [run_cli("user", "create", "rex", "--name", "Rex", "--role",
                        "account_executive", "--manager", "mia")]
        rex = run_cli("token", "issue", "rex").stdout.strip().splitlines()[-1]
        made.append(run_cli("client", "create", "--id", "bigco", "--name", "Big Co", token=rex))
        expect(all(m.returncode == 0 for m in made),
               "rex and his account: " + "".join(m.stdout + m.stderr for m in made))
        book = 260
        for i in range(book):
            api.change("Orders", "CreateOrder", "create_order", commands_pb2.CreateOrder(
                kind=domain_pb2.PRODUCTION, client_id="bigco", title="Spot %d" % i,
                spot_length_seconds=30, flight_start=domain_pb2.Date(year=2099, month=3, day=1),
                flight_end=domain_pb2.Date(year=2099, month=3, day=31)), rex)
        notify()
        follower = follow()
        time.sleep(1)
        expect(run_cli("accounts", "reassign", "rex", "sam", token=tokens["mia"]).returncode == 0,
               "rex's book to sam: %d events in one command" % (book + 1))

        def moved_parts(lines):
            parts = {}
            for n in (json.loads(line) for line in lines if line.startswith("{")):
                r = n.get("reassigned")
                if r and r.get("from_owners") == ["rex"]:
                    kind = ("confirmation" if r.get("confirmation") else
                            "given" if r.get("given_away") else "taken")
                    parts.setdefault((n["user_id"], kind), []).append(len(r.get("orders", [])))
            return parts
        seen = read_until(follower, lambda seen: '"confirmation":true' in seen, 30)
        seen = read_until(follower, lambda seen: False, 2, seen)  # Any part told after it.
        follower.kill()
        follower.wait(timeout=30)
        follower = None
        whole = {("mia", "confirmation"): [book], ("rex", "given"): [book],
                 ("sam", "taken"): [book]}
        followed = moved_parts(seen.splitlines())
        expect(followed == whole, "followed, a book of %d orders is told once each: %r"
               % (book, followed))
        confirmed = [json.loads(line) for line in seen.splitlines()
                     if '"confirmation":true' in line][0]
        last = int(confirmed["position"])
        first = last - book  # The account's event, then each order's.
        cut_from = first + 250 - 500  # The first page of 500 ends inside the move.
        expect(cut_from >= 1, "the log is long enough to cut the move at a page: %d" % first)
        caught = run_cli("--json", "notify", "--from", str(cut_from))
        expect(caught.returncode == 0
               and moved_parts(caught.stdout.splitlines()) == whole,
               "caught up, the move a page cut is told once each: %r"
               % moved_parts(caught.stdout.splitlines()))
        caught_at = [int(json.loads(line)["position"]) for line in caught.stdout.splitlines()]
        expect(caught_at == sorted(caught_at) and len(caught_at) > 3,
               "from an event on, waits and moves come in the log's order: %r" % caught_at)
        # A form's yes/no and date fields as people type them; a bad date names its field.
        flagged = os.path.join(work, "flagged.json")
        with open(flagged, "w") as out:
            json.dump({"name": "flagged_spot", "title": "Flagged spot", "key_format": "FS-{seq:3}",
                       "workflow": "production_order",
                       "facets": {"artifacts": ["script", "spot"], "schedule": True,
                                  "client_link": True},
                       "fields": [{"name": "rush", "type": "BOOLEAN"},
                                  {"name": "due", "type": "DATE"}]}, out)
        expect(run_cli("type", "define", flagged).returncode == 0, "a type with a flag and a date")
        base = ["order", "create", "--type", "flagged_spot", "--client", "acme", "--title", "Rush",
                "--flight", "2099-01-01..2099-01-31", "--dry-run"]
        for value in ("yes", "No", "TRUE"):
            taken = run_cli(*base, "--field", "rush=" + value, token=tokens["sam"])
            expect(taken.returncode == 0, "rush=%s is taken: %s" % (value, taken.stderr))
        for field, said in (("rush=maybe", 'field rush is true or false (or yes or no), not '
                             '"maybe"'),
                            ("due=15/01/2099", 'field due is a date: dates are YYYY-MM-DD, not '
                             '"15/01/2099"')):
            refused = run_cli(*base, "--field", field, token=tokens["sam"])
            expect(refused.returncode == 2 and said in refused.stderr,
                   "--field %s is a usage error naming the field: %s" % (field, refused.stderr))
        # Misuse: --from past the end, --from with --state, a state that is not one, or one
        # kept for a longer log.
        past = run_cli("notify", "--from", "100000")
        expect(past.returncode == 2 and "is past the log's end" in past.stderr,
               "--from past the log's end is a usage error: " + past.stderr)
        for args, said in ((("--recheck", "5"), "give it with --follow"),
                           (("--follow", "--recheck", "0"), "from 1 to 86400")):
            misused = run_cli("notify", *args)
            expect(misused.returncode == 2 and said in misused.stderr,
                   "notify %s is a usage error: %s" % (" ".join(args), misused.stderr))
        both = run_cli("notify", "--state", state, "--from", "3")
        expect(both.returncode == 2 and "give one or the other" in both.stderr,
               "--from with a kept state is a usage error: " + both.stderr)
        with open(state) as kept:
            saved = json.load(kept)
        expect(int(saved["checked_position"]) == int(saved["next_position"]) - 1
               and len(base64.b64decode(saved["checked_hash"])) == 32,
               "the state keeps the last event read and its hash: %r" % saved)
        # Kept for another log of at least the same length: its event there differs.
        other = dict(saved, checked_hash=base64.b64encode(bytes(32)).decode())
        with open(state, "w") as out:
            json.dump(other, out)
        mixed = run_cli("notify", "--state", state)
        expect(mixed.returncode == 1 and "was kept for another log: its event at position %s is "
               "not this log's" % saved["checked_position"] in mixed.stderr
               and mixed.stdout == "", "a state kept for another log is named: " + mixed.stderr)
        with open(state) as kept:
            expect(json.load(kept) == other, "the refused run left the state as it was")
        saved["next_position"] = "100000"
        with open(state, "w") as out:
            json.dump(saved, out)
        elsewhere = run_cli("notify", "--state", state)
        expect(elsewhere.returncode == 1 and "past this log's end" in elsewhere.stderr
               and "Remove it to start again" in elsewhere.stderr,
               "a state kept for a longer log is named: " + elsewhere.stderr)
        with open(state, "w") as out:
            out.write("not json")
        broken = run_cli("notify", "--state", state)
        expect(broken.returncode == 1 and "is not a notify state" in broken.stderr,
               "a damaged state is named: " + broken.stderr)
        audited = run_cli("notify", token=tokens["aud"])
        expect(audited.returncode == 0 and " PO-2026-00003 " in audited.stdout,
               "an auditor's token serves too:\n" + audited.stdout + audited.stderr)
        denied = run_cli("notify", token=tokens["sam"])
        expect(denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr
               and "run it with an administrator's or an auditor's token" in denied.stderr,
               "notify reads the log, which an AE may not: " + denied.stderr)
    finally:
        if follower is not None:
            follower.kill()
            follower.wait(timeout=30)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


main()
