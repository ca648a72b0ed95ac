"""A metering proxy in front of DynamoDB Local for `make bench`: the functions of a devstack talk to
it as their DynamoDB endpoint, and it counts the capacity every request consumes.

- Single-item writes (PutItem, UpdateItem, DeleteItem) and BatchWriteItem: the proxy asks DynamoDB
  Local for ReturnConsumedCapacity=INDEXES and takes its figure (faithful for these: the item before
  and after, and each index entry, are DynamoDB Local's own accounting).
- TransactWriteItems, whose ConsumedCapacity DynamoDB Local does not report faithfully: the proxy
  reads each item before and after (consistent reads, outside the meter) and applies the published
  rules itself: 2 WRU per started KB of the larger image, and each index entry that appears,
  changes or disappears priced the same way (a moved key costs a delete and a put).
- Reads (GetItem, Query, Scan, BatchGetItem): DynamoDB Local's ConsumedCapacity; TransactGetItems
  counts 2 RRU per started 4 KB of each item.

Control: GET /_meter answers {"seq": n, "wru": total, "rru": total}; GET /_meter?since=n answers
the totals of the requests after n, by table. Usage: wru_meter.py <listen port> <DynamoDB URL>.
An independent implementation of the sizing rules (not linli::store::wru), so the two check each
other.
"""
import base64
import http.client
import json
import math
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGET = "DynamoDB_20120810."
lock = threading.Lock()
entries = []  # (seq, table, wru, rru, operation)
schemas = {}  # table -> (key names, [(index key names, projection type, non-key attributes)])


def number_size(text):
    digits = "".join(c for c in text.lower().split("e")[0] if c.isdigit()).strip("0")
    return math.ceil(len(digits) / 2) + 1


def value_size(v):
    (kind, x), = v.items()
    if kind == "S":
        return len(x.encode())
    if kind == "N":
        return number_size(x)
    if kind == "B":
        return len(base64.b64decode(x))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in x)
    if kind == "NS":
        return sum(number_size(n) for n in x)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in x)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in x)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in x.items())
    return len(json.dumps(x))


def item_size(item):
    return sum(len(k.encode()) + value_size(v) for k, v in (item or {}).items())


def units(size, per):
    return max(1, math.ceil(size / per))


class Upstream:
    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.local = threading.local()

    def call(self, operation, body, headers=None):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        h = dict(headers or {})
        h["X-Amz-Target"] = TARGET + operation
        h.setdefault("Content-Type", "application/x-amz-json-1.0")
        h.setdefault("Authorization", "AWS4-HMAC-SHA256 Credential=local/20261205/cn-north-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        try:
            conn.request("POST", "/", data, h)
            r = conn.getresponse()
            return r.status, r.read(), r.getheaders()
        except (http.client.HTTPException, OSError):
            self.local.conn = None
            raise


def schema(up, table):
    if table not in schemas:
        _, raw, _ = up.call("DescribeTable", {"TableName": table})
        t = json.loads(raw)["Table"]
        keys = [k["AttributeName"] for k in t["KeySchema"]]
        indexes = []
        for ix in t.get("LocalSecondaryIndexes", []) + t.get("GlobalSecondaryIndexes", []):
            p = ix["Projection"]
            indexes.append(([k["AttributeName"] for k in ix["KeySchema"]], p["ProjectionType"], p.get("NonKeyAttributes", [])))
        schemas[table] = (keys, indexes)
    return schemas[table]


def entry(item, keys, index):
    """An index entry of `item` (None when the item is not in the index) and its size."""
    names, projection, extra = index
    if not item or any(n not in item for n in names):
        return None, 0
    if projection == "ALL":
        picked = dict(item)
    else:
        wanted = set(keys) | set(names) | (set(extra) if projection == "INCLUDE" else set())
        picked = {k: v for k, v in item.items() if k in wanted}
    return picked, item_size(picked) + 100


def get(up, table, key):
    _, raw, _ = up.call("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
    return json.loads(raw).get("Item")


def transaction_cost(up, items):
    """(request for the images before, callback computing WRU per table after)."""
    before = []
    for t in items:
        (kind, op), = t.items()
        table = op["TableName"]
        keys, _ = schema(up, table)
        key = op.get("Key") or {k: op["Item"][k] for k in keys}
        before.append((kind, table, key, get(up, table, key)))

    def after():
        cost = {}
        for kind, table, key, old in before:
            keys, indexes = schema(up, table)
            new = get(up, table, key)
            wru = 2 * units(max(item_size(old), item_size(new)), 1024)
            if kind != "ConditionCheck":
                for index in indexes:
                    (e_old, s_old), (e_new, s_new) = entry(old, keys, index), entry(new, keys, index)
                    if e_old == e_new:
                        continue
                    moved = e_old and e_new and any(e_old.get(n) != e_new.get(n) for n in index[0])
                    if moved:
                        wru += 2 * (units(s_old, 1024) + units(s_new, 1024))
                    else:
                        wru += 2 * units(max(s_old, s_new), 1024)
            cost[table] = cost.get(table, 0) + wru
        return cost

    return after


def record(table, wru, rru, operation):
    with lock:
        entries.append((len(entries) + 1, table, wru, rru, operation))


def consumed(raw):
    try:
        c = json.loads(raw).get("ConsumedCapacity")
    except ValueError:
        return []
    if c is None:
        return []
    return c if isinstance(c, list) else [c]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    up = None
    write_lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        since = int(query.get("since", ["0"])[0])
        with lock:
            picked = [e for e in entries if e[0] > since]
            seq = len(entries)
        tables = {}
        for _, table, wru, rru, op in picked:
            t = tables.setdefault(table, {"wru": 0, "rru": 0, "writes": 0})
            t["wru"] += wru
            t["rru"] += rru
            t["writes"] += 1 if wru else 0
        body = json.dumps({
            "seq": seq,
            "wru": round(sum(e[2] for e in picked), 1),
            "rru": round(sum(e[3] for e in picked), 1),
            "tables": tables,
        }).encode()
        self.answer(200, body, [("Content-Type", "application/json")])

    def answer(self, status, body, headers):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        operation = self.headers.get("X-Amz-Target", "").removeprefix(TARGET)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "x-amz-target")}
        try:
            body = json.loads(data or b"{}")
        except ValueError:
            body = None
        try:
            status, raw, out = self.forward(operation, body, data, headers)
        except (http.client.HTTPException, OSError) as e:
            self.answer(502, str(e).encode(), [])
            return
        self.answer(status, raw, out)

    def forward(self, operation, body, data, headers):
        up = self.up
        if body is None:
            return up.call(operation, data, headers)
        if operation in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"):
            body.setdefault("ReturnConsumedCapacity", "INDEXES")
            with self.write_lock:
                status, raw, out = up.call(operation, body, headers)
            for c in consumed(raw) if status == 200 else []:
                record(c.get("TableName", "?"), c.get("CapacityUnits", 0), 0, operation)
            return status, raw, out
        if operation == "TransactWriteItems":
            with self.write_lock:
                after = transaction_cost(up, body["TransactItems"])
                status, raw, out = up.call(operation, body, headers)
                if status == 200:
                    for table, wru in after().items():
                        record(table, wru, 0, operation)
            return status, raw, out
        if operation in ("GetItem", "Query", "Scan", "BatchGetItem"):
            body.setdefault("ReturnConsumedCapacity", "TOTAL")
            status, raw, out = up.call(operation, body, headers)
            for c in consumed(raw) if status == 200 else []:
                record(c.get("TableName", "?"), 0, c.get("CapacityUnits", 0), operation)
            return status, raw, out
        if operation == "TransactGetItems":
            status, raw, out = up.call(operation, body, headers)
            if status == 200:
                for r in json.loads(raw).get("Responses", []):
                    record("?", 0, 2 * units(item_size(r.get("Item")), 4096), operation)
            return status, raw, out
        return up.call(operation, body, headers)


def main():
    port, upstream = int(sys.argv[1]), sys.argv[2]
    Handler.up = Upstream(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"wru meter on :{port} → {upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
