#!/usr/bin/python3
"""Independent TLS clients for tests/integration/tls_test.cpp.

Python's ssl module (OpenSSL underneath, but none of wsgate's code), the
`websockets` package and Debian's `openssl s_client`. Each subcommand prints
`key=value` lines the C++ test asserts on, and exits 0 unless the helper
itself broke (what the server did is reported, not judged, here).
Run with /usr/bin/python3: the websockets module is Debian's.
"""
import argparse
import asyncio
import base64
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import time

UPGRADE = ("GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")


def say(**kv):
    for k, v in kv.items():
        print(f"{k}={v}", flush=True)


# ------------------------------------------------------------ certificates

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def genkey(d, name):
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name + ".key", cwd=d)


def make_ca(d, name, cn):
    genkey(d, name)
    openssl("req", "-x509", "-new", "-key", name + ".key", "-subj", "/CN=" + cn, "-days", "30", "-out",
            name + ".pem", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_cert(d, name, subj, issuer, serial, days=30, san=None, usage="serverAuth", ca=False):
    genkey(d, name)
    openssl("req", "-new", "-key", name + ".key", "-subj", subj, "-out", name + ".csr", cwd=d)
    ext = ["subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid,issuer"]
    if ca:
        ext += ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
    else:
        ext += ["basicConstraints=CA:FALSE", "extendedKeyUsage=" + usage]
    if san:
        ext.append("subjectAltName=" + san)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("\n".join(ext) + "\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", issuer + ".pem", "-CAkey", issuer + ".key", "-set_serial",
            str(serial), "-days", str(days), "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)


def cat(d, out, *names):
    with open(os.path.join(d, out), "w") as f:
        for n in names:
            with open(os.path.join(d, n)) as g:
                f.write(g.read())


def cmd_mkcerts(a):
    d = a.dir
    shutil.rmtree(d, ignore_errors=True)  # a fresh set each run
    os.makedirs(d)
    local = "DNS:localhost,IP:127.0.0.1"
    make_ca(d, "ca", "wsgate test CA")
    make_cert(d, "server", "/CN=localhost", "ca", 4097, san=local)
    make_cert(d, "server2", "/CN=localhost", "ca", 8194, san=local)  # the same names, another serial
    make_cert(d, "other", "/CN=other.test", "ca", 12291, san="DNS:other.test")
    make_cert(d, "expiring", "/CN=localhost", "ca", 16388, days=5, san=local)
    make_cert(d, "inter", "/CN=wsgate test intermediate", "ca", 20485, ca=True)
    make_cert(d, "leaf", "/CN=localhost", "inter", 24582, san=local)
    cat(d, "chain.pem", "leaf.pem", "inter.pem")
    cat(d, "disorder.pem", "leaf.pem", "ca.pem", "inter.pem")
    make_ca(d, "clientca", "wsgate client CA")
    make_cert(d, "client", "/CN=alice/O=wsgate tests", "clientca", 28679, usage="clientAuth")
    make_cert(d, "client2", "/CN=bob/O=wsgate tests", "clientca", 32776, usage="clientAuth")
    make_ca(d, "foreignca", "some other CA")
    make_cert(d, "foreign", "/CN=mallory", "foreignca", 36873, usage="clientAuth")
    say(made=d)


# ------------------------------------------------------------ helpers

def client_context(a, tls12=False, tls13=False):
    ctx = ssl.create_default_context(cafile=a.ca)
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if tls13:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def connect(a):
    return socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def frame(payload, opcode=1, fin=True):
    """A masked client frame (mask all zeros keeps the payload readable)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def read_frame(recv):
    """One unmasked server frame from recv(n) -> bytes; (opcode, payload)."""
    def exact(n):
        out = b""
        while len(out) < n:
            c = recv(n - len(out))
            if not c:
                raise EOFError("closed after %d of %d bytes" % (len(out), n))
            out += c
        return out
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(exact(2), "big")
    elif n == 127:
        n = int.from_bytes(exact(8), "big")
    return b0 & 0x0F, exact(n)


def wait_closed(sock, limit):
    """Seconds until the peer closed (EOF or reset), or None; data is drained."""
    start = time.monotonic()
    got = b""
    while time.monotonic() - start < limit:
        r, _, _ = select.select([sock], [], [], 0.1)
        if not r:
            continue
        try:
            c = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, OSError):
            return time.monotonic() - start, got
        if not c:
            return time.monotonic() - start, got
        got += c
    return None, got


# ------------------------------------------------------------ websockets clients

def cmd_echo(a):
    asyncio.run(echo(a))


async def echo(a):
    import websockets
    ctx = client_context(a, a.tls12, a.tls13)
    url = f"wss://{a.host}:{a.port}{a.path}"
    headers = [tuple(h.split(": ", 1)) for h in a.header or []]
    try:
        async with websockets.connect(url, ssl=ctx, server_hostname=a.sni or None, open_timeout=a.timeout,
                                      max_size=4 << 20, extra_headers=headers) as ws:
            tls = ws.transport.get_extra_info("ssl_object")
            say(connected=1, version=tls.version(), cipher=tls.cipher()[0],
                peer_serial=tls.getpeercert()["serialNumber"])
            ok = 0
            for i in range(a.count):
                msg = chr(97 + i % 26) * a.size
                await ws.send(msg)
                ok += await asyncio.wait_for(ws.recv(), a.timeout) == msg
            say(echoed=ok)
            if a.ask:
                await ws.send(a.ask)
                say(answer=repr(await asyncio.wait_for(ws.recv(), a.timeout)))
    except (ssl.SSLError, OSError, EOFError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
        say(connected=0, error=type(e).__name__ + ": " + str(e).replace("\n", " "))


def cmd_hold(a):
    asyncio.run(hold(a))


async def hold(a):
    """A wss session that echoes a message every 0.2 s until `--until` exists."""
    import websockets
    async with websockets.connect(f"wss://localhost:{a.port}{a.path}", ssl=client_context(a),
                                  open_timeout=a.timeout) as ws:
        tls = ws.transport.get_extra_info("ssl_object")
        say(held_serial=tls.getpeercert()["serialNumber"])
        n = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await ws.send(f"m{n}")
            if await asyncio.wait_for(ws.recv(), a.timeout) != f"m{n}":
                say(held_bad=n)
                return
            n += 1
            say(held_echo=n)
            if os.path.exists(a.until):
                break
            await asyncio.sleep(0.2)
        await ws.send("last")
        say(held_last=await asyncio.wait_for(ws.recv(), a.timeout))


# ------------------------------------------------------------ raw TLS clients

def tls_socket(a, ctx=None, sni="localhost"):
    ctx = ctx or client_context(a)
    s = ctx.wrap_socket(connect(a), server_hostname=sni)
    return s


def cmd_handshake(a):
    """A TLS handshake (SNI from --sni) and what it gave; then an upgrade."""
    ctx = client_context(a)
    if a.sni and a.sni != "localhost":
        ctx.check_hostname = False
    try:
        s = tls_socket(a, ctx, a.sni or "localhost")
        cert = s.getpeercert()
        say(handshake="ok", version=s.version(), peer_serial=cert["serialNumber"],
            peer_cn=dict(x[0] for x in cert["subject"])["commonName"])
        s.sendall(UPGRADE.format(path=a.path, extra="".join(h + "\r\n" for h in a.header or [])).encode())
        head = read_head(s).decode(errors="replace")
        say(status=head.split("\r\n")[0])
        s.close()
    except (ssl.SSLError, OSError) as e:
        say(handshake="failed", error=str(e).replace("\n", " "))


def cmd_resume(a):
    """`--count` connections resuming the latest session, in `--phases` phases;
    between phases wait for the file PREFIX.N the test creates after a reload."""
    ctx = client_context(a, tls12=a.tls12, tls13=not a.tls12)
    session = None

    def one():
        nonlocal session
        s = ctx.wrap_socket(connect(a), server_hostname="localhost", session=session)
        s.sendall(UPGRADE.format(path=a.path, extra="").encode())
        head = read_head(s)
        ok = head.startswith(b"HTTP/1.1 101")
        reused = s.session_reused
        session = s.session  # the ticket arrived before the 101
        s.close()
        return ok, reused

    ok, reused = one()
    say(first_upgraded=int(ok), first_reused=int(reused))
    for phase in range(a.phases):
        if phase > 0:
            flag = f"{a.wait_file}.{phase}"
            deadline = time.monotonic() + 30
            while not os.path.exists(flag) and time.monotonic() < deadline:
                time.sleep(0.05)
        results = [one() for _ in range(a.count)]
        say(**{f"phase{phase}_upgraded": sum(r[0] for r in results),
               f"phase{phase}_resumed": sum(r[1] for r in results)})


def cmd_badmac(a):
    """A wss session over ssl.SSLObject on a raw socket: one message echoed,
    then a message split over two records, the second with a broken tag."""
    ctx = client_context(a)
    sock = connect(a)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")

    def pump_out():
        data = out.read()
        if data:
            sock.sendall(data)

    def feed():
        c = sock.recv(65536)
        if not c:
            inc.write_eof()
            return False
        inc.write(c)
        return True

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pump_out()
            feed()
    pump_out()
    say(version=obj.version())

    def recv(n):
        while True:
            try:
                return obj.read(n)
            except ssl.SSLWantReadError:
                if not feed():
                    return b""

    obj.write(UPGRADE.format(path=a.path, extra="").encode())
    pump_out()
    head = b""
    while b"\r\n\r\n" not in head:
        c = recv(1)
        if not c:
            break
        head += c
    say(status=head.split(b"\r\n")[0].decode())
    obj.write(frame(b"before the bad record"))
    pump_out()
    say(first_echo=read_frame(recv)[1].decode())
    if a.split == "frame":  # the bad record cuts a frame in two
        whole = frame(b"x" * 2000)
        first, second = whole[:1000], whole[1000:]
    else:  # "fragment": between the two frames of one message
        first, second = frame(b"x" * 1000, fin=False), frame(b"y" * 1000, opcode=0)
    obj.write(first)
    pump_out()  # a good record: the first half of the message
    obj.write(second)
    bad = bytearray(out.read())
    bad[-1] ^= 0x01  # the last byte of the record is the AEAD tag's
    sock.sendall(bytes(bad))
    closed, got = wait_closed(sock, a.timeout)
    say(closed_after=("%.2f" % closed) if closed is not None else "never", bytes_after=len(got))


def client_hello_bytes(a):
    ctx = client_context(a)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def cmd_slow_hello(a):
    """The ClientHello one byte a second; when did the server hang up?"""
    hello = client_hello_bytes(a)
    sock = connect(a)
    start = time.monotonic()
    sent = 0
    for b in hello[: a.bytes]:
        try:
            sock.sendall(bytes([b]))
        except OSError:
            break
        sent += 1
        r, _, _ = select.select([sock], [], [], 1.0)
        if r:
            break
    closed, got = wait_closed(sock, a.timeout)
    total = time.monotonic() - start
    say(sent=sent, hello_size=len(hello), closed_after=("%.2f" % total) if closed is not None else "never",
        bytes_back=len(got))


def cmd_stall(a):
    """`--at hello`: the ClientHello, then silence (stops mid-handshake);
    `--at established`: a whole handshake, then silence."""
    sock = connect(a)
    start = time.monotonic()
    if a.at == "hello":
        sock.sendall(client_hello_bytes(a))
        closed, got = wait_closed(sock, a.timeout)
        say(closed_after=("%.2f" % closed) if closed is not None else "never", bytes_back=len(got))
        return
    s = client_context(a).wrap_socket(sock, server_hostname="localhost")
    start = time.monotonic()
    got = b""
    try:
        while time.monotonic() - start < a.timeout:
            c = s.recv(65536)
            if not c:
                break
            got += c
    except (ssl.SSLError, OSError) as e:
        say(error=str(e).replace("\n", " "))
    say(closed_after="%.2f" % (time.monotonic() - start), answer=got.split(b"\r\n")[0].decode(errors="replace"),
        body=got.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip())


def cmd_plain(a):
    """Clear text to the TLS port: `--what http|upgrade|random`."""
    sock = connect(a)
    if a.what == "http":
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    elif a.what == "upgrade":
        sock.sendall(UPGRADE.format(path=a.path, extra="").encode())
    else:
        sock.sendall(os.urandom(4096))
    closed, got = wait_closed(sock, a.timeout)
    text = got.decode(errors="replace")
    say(closed_after=("%.2f" % closed) if closed is not None else "never", status=text.split("\r\n")[0],
        body=text.split("\r\n\r\n", 1)[-1].strip() if "\r\n\r\n" in text else "", bytes_back=len(got))


def cmd_scan(a):
    """`--count` connections of random bytes, one after the other."""
    closed = 0
    for _ in range(a.count):
        sock = connect(a)
        sock.sendall(os.urandom(512))
        closed += wait_closed(sock, a.timeout)[0] is not None
        sock.close()
    say(closed=closed)


# ------------------------------------------------------------ openssl s_client

def s_client(a, *extra, script=(), wait=3.0):
    """Runs s_client, writes `script` (text, seconds to wait after) to it and
    returns everything it printed; ends it after `wait` seconds of quiet."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{a.port}", "-servername", "localhost",
            "-CAfile", a.ca, *extra]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(p.stdout.fileno(), False)
    out = b""

    def drain(seconds):
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([p.stdout], [], [], 0.05)
            if r:
                c = p.stdout.read()
                if not c:
                    return False
                out += c
        return True

    for text, pause in script:
        try:
            p.stdin.write(text.encode())
            p.stdin.flush()
        except BrokenPipeError:
            break
        if not drain(pause):
            break
    drain(wait)
    if p.poll() is None:
        p.kill()
    p.wait()
    return out.decode(errors="replace"), p.returncode


def cmd_sclient_upgrade(a):
    out, _ = s_client(a, script=[(UPGRADE.format(path=a.path, extra=""), 2.0)], wait=0.2)
    lines = [l for l in out.splitlines() if l.startswith("HTTP/1.1")]
    say(status=lines[0] if lines else "none", verified=int("Verify return code: 0 (ok)" in out))


def cmd_sclient_tls1(a):
    out, code = s_client(a, "-tls1", "-cipher", "DEFAULT@SECLEVEL=0", wait=3.0)
    say(exit=code, protocol_version_alert=int("alert protocol version" in out),
        handshake_done=int("Cipher is" in out and "Cipher is (NONE)" not in out),
        last=" | ".join(l for l in out.splitlines() if "error" in l or "alert" in l)[:300])


def cmd_sclient_reneg(a):
    """TLS 1.2, an upgrade, then s_client's `R` (a renegotiation request)."""
    out, code = s_client(a, "-tls1_2", script=[(UPGRADE.format(path=a.path, extra=""), 1.5), ("R\n", 2.0)],
                         wait=0.5)
    say(exit=code, upgraded=int("101 Switching Protocols" in out), renegotiating=int("RENEGOTIATING" in out),
        no_renegotiation=int("no renegotiation" in out or "no_renegotiation" in out),
        second_handshake=int(out.count("depth=0") > 1),
        last=" | ".join(l for l in out.splitlines() if "error" in l or "alert" in l or "RENEG" in l)[:300])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command")
    p.add_argument("--dir")
    p.add_argument("--port", type=int)
    p.add_argument("--host", default="localhost")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--sni")
    p.add_argument("--path", default="/chat")
    p.add_argument("--header", action="append")
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--ask")
    p.add_argument("--tls12", action="store_true")
    p.add_argument("--tls13", action="store_true")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--phases", type=int, default=1)
    p.add_argument("--wait-file")
    p.add_argument("--until")
    p.add_argument("--bytes", type=int, default=1 << 20)
    p.add_argument("--at", default="hello")
    p.add_argument("--what", default="http")
    p.add_argument("--split", default="fragment")
    a = p.parse_args()
    commands = {"mkcerts": cmd_mkcerts, "echo": cmd_echo, "hold": cmd_hold, "handshake": cmd_handshake,
                "resume": cmd_resume, "badmac": cmd_badmac, "slow-hello": cmd_slow_hello, "stall": cmd_stall,
                "plain": cmd_plain, "scan": cmd_scan, "sclient-upgrade": cmd_sclient_upgrade, "sclient-tls1": cmd_sclient_tls1,
                "sclient-reneg": cmd_sclient_reneg}
    commands[a.command.replace("_", "-")](a)


if __name__ == "__main__":
    main()
