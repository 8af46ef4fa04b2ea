#!/usr/bin/env python3
"""Writes the hand-made seed inputs of tests/fuzz/corpus/TARGET/seed-*.

Run from anywhere; rewrites only files named seed-*, so inputs that
campaigns merged into the corpus (named by libFuzzer after their SHA-1)
stay. Seeds are the well-formed and malformed examples a campaign starts
from: smuggling candidates, chunk edge cases, HTTP/2 frames of every type,
bad configurations, stats queries with hostile names.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, items):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith('seed-'):
            os.remove(os.path.join(d, f))
    for i, (name, data) in enumerate(items):
        if isinstance(data, str):
            data = data.encode('latin-1')
        with open(os.path.join(d, 'seed-%02d-%s' % (i, name)), 'wb') as f:
            f.write(data)


# ---- HTTP/1 requests ----
R = '\r\n'
req = [
    ('get', 'GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n'),
    ('pipeline', 'GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n'
                 'HEAD /c HTTP/1.0\r\n\r\n'),
    ('post-cl', 'POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world'
                'GET /next HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('chunked', 'PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                '4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 1\r\n\r\n'
                'GET /after HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('chunked-upper-hex', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                          'A\r\n0123456789\r\nFf\r\n' + 'x' * 255 + '\r\n0\r\n\r\n'),
    ('chunk-16-digits', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                        '0000000000000001\r\nx\r\n0\r\n\r\n'),
    ('chunk-17-digits', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                        '00000000000000001\r\nx\r\n0\r\n\r\n'),
    ('chunk-huge', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                   'ffffffffffffffff\r\nx\r\n'),
    ('chunk-ws', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                 '3 \t;a=b;c="d e"\r\nabc\r\n0 \r\n\r\n'),
    ('chunk-bare-lf', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                      '3\nabc\n0\n\n'),
    ('chunk-neg', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n'),
    ('chunk-0x', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n'),
    ('chunk-trailer-fold', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                           '0\r\nA: b\r\n c\r\n\r\n'),
    ('chunk-missing-crlf', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
                           '3\r\nabcd\r\n0\r\n\r\n'),
    ('cl-te', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n'
              '0\r\n\r\nG'),
    ('te-cl', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'
              '8\r\nSMUGGLED\r\n0\r\n\r\n'),
    ('te-te', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n'
              '0\r\n\r\n'),
    ('te-gzip-chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'),
    ('te-chunked-gzip', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n'),
    ('te-chunked-chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'
                           '0\r\n\r\n'),
    ('te-case', 'POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: ChUnKeD\r\n\r\n0\r\n\r\n'),
    ('te-space-colon', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'),
    ('te-tab', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\t\r\n\r\n0\r\n\r\n'),
    ('te-vtab', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n'),
    ('te-obs-fold', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n'),
    ('te-http10', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    ('te-quoted', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n'),
    ('te-identity', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\nx'),
    ('cl-dup-same', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'),
    ('cl-dup-diff', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk'),
    ('cl-list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nok'),
    ('cl-list-diff', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 3\r\n\r\nok'),
    ('cl-plus', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nok'),
    ('cl-neg', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n'),
    ('cl-hex', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x2\r\n\r\nok'),
    ('cl-huge', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n'),
    ('cl-2p64', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n'),
    ('cl-empty', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n'),
    ('cl-space-inside', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n'),
    ('cl-leading-zeros', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000002\r\n\r\nok'),
    ('cl-zero-pipeline', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('get-with-body', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nGET /'),
    ('bare-cr', 'GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n'),
    ('bare-lf', 'GET / HTTP/1.1\nHost: a\nContent-Length: 2\n\nokGET / HTTP/1.1\n\n'),
    ('leading-crlf', '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('space-before-colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'),
    ('obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n'),
    ('nul-in-value', 'GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n'),
    ('del-in-value', 'GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n'),
    ('high-bytes', 'GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\nX: \xff\xfe\r\n\r\n'),
    ('absolute-form', 'GET http://user:pw@origin.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n'),
    ('absolute-no-host', 'GET http://origin.example/p HTTP/1.1\r\n\r\n'),
    ('authority-connect', 'CONNECT origin.example:443 HTTP/1.1\r\nHost: origin.example:443\r\n\r\n'),
    ('connect-body', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc'),
    ('asterisk', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('http10-keepalive', 'GET / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx'
                         'GET /2 HTTP/1.0\r\n\r\n'),
    ('http09', 'GET /\r\n\r\n'),
    ('http2-version', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n'),
    ('http12', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n'),
    ('lowercase-version', 'GET / http/1.1\r\nHost: a\r\n\r\n'),
    ('double-space', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('tab-sep', 'GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n'),
    ('upgrade', 'GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Hop\r\nX-Hop: 1\r\n'
                'Upgrade: websocket\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\n\r\n'),
    ('h2c-upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n'
                    'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'),
    ('conn-names-cl', 'POST / HTTP/1.1\r\nHost: a\r\nConnection: content-length, host, transfer-encoding\r\n'
                      'Content-Length: 1\r\n\r\nx'),
    ('expect', 'PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx'),
    ('expect-10', 'PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx'),
    ('many-headers', 'GET / HTTP/1.1\r\n' + ''.join('X-%d: %d\r\n' % (i, i) for i in range(100)) + '\r\n'),
    ('too-many-headers', 'GET / HTTP/1.1\r\n' + ''.join('X-%d: %d\r\n' % (i, i) for i in range(101)) + '\r\n'),
    ('long-uri', 'GET /' + 'a' * 3000 + ' HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('truncated', 'GET / HTTP/1.1\r\nHost: a\r\n'),
    ('truncated-chunk', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'),
    ('empty-name', 'GET / HTTP/1.1\r\n: v\r\n\r\n'),
    ('weird-method', 'M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('lowercase-method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n'),
    ('host-dup', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'),
    ('xff-present', 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nVia: 1.0 x\r\n\r\n'),
]
write('h1_request', req)

# ---- HTTP/1 responses (optional "@METHOD\n" first line) ----
rsp = [
    ('200-cl', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\n\r\nhello'),
    ('200-chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                    'a\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n'),
    ('te-and-cl', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'
                  '3\r\nabc\r\n0\r\n\r\n'),
    ('te-not-chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdef'),
    ('close-delimited', 'HTTP/1.0 200\r\nConnection: keep-alive\r\n\r\nuntil close'),
    ('no-reason', 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'),
    ('interim', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n'
                'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    ('101', 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00'),
    ('204-with-body', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n'),
    ('304', 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 100\r\n\r\n'),
    ('head', '@HEAD\nHTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\n\r\n'),
    ('head-chunked', '@HEAD\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
    ('connect-200', '@CONNECT\nHTTP/1.1 200 Connection established\r\n\r\nraw tunnel bytes'),
    ('connect-407', '@CONNECT\nHTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\nno'),
    ('post', '@POST\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'),
    ('status-999', 'HTTP/1.1 999 Odd\r\n\r\n'),
    ('status-099', 'HTTP/1.1 099 Odd\r\n\r\n'),
    ('status-2digits', 'HTTP/1.1 20 OK\r\n\r\n'),
    ('status-4digits', 'HTTP/1.1 2000 OK\r\n\r\n'),
    ('reason-ctl', 'HTTP/1.1 200 O\x01K\r\n\r\n'),
    ('cl-dup', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc'),
    ('cl-conflict', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'),
    ('cl-list', 'HTTP/1.1 200 OK\r\nContent-Length: 3,3 , 3\r\n\r\nabc'),
    ('chunk-ext', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a;b=c;d="e;f"\r\nx\r\n0\r\n\r\n'),
    ('chunk-trailer-bad', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n'),
    ('chunk-no-final', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'),
    ('http10-chunked', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    ('hop-by-hop', 'HTTP/1.1 200 OK\r\nConnection: close, X-A\r\nX-A: 1\r\nKeep-Alive: t=5\r\n'
                   'Trailer: X\r\nUpgrade: h2\r\nContent-Length: 0\r\n\r\n'),
    ('bare-lf', 'HTTP/1.1 200 OK\nContent-Length: 1\n\nx'),
    ('obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\nContent-Length: 0\r\n\r\n'),
    ('space-colon', 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello'),
    ('leading-crlf', '\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
    ('http2', 'HTTP/2 200\r\n\r\n'),
    ('keepalive-pipeline', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 NF\r\n'
                           'Content-Length: 0\r\n\r\nHTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
]
write('h1_response', rsp)

# ---- configuration ----
cfgs = [
    ('full', 'global\n nbthread 4\n tune.bufsize 32k\n tune.maxrewrite 2k\n tune.buffers.limit 64\n'
             ' tune.buffers.reserve 4\n tune.fail-alloc 1.5\n grace 3s\n log stderr\n daemon\n'
             'defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n'
             ' option httpchk GET /health\n http-check expect status 200\n default-server inter 1s check\n'
             'frontend f\n bind :8080 proto h2\n bind [::1]:8081,127.0.0.1:8082\n use_backend b\n'
             ' default_backend b\n option forwardfor\n stats uri "/st ats"\n'
             'backend b\n balance leastconn\n server s1 127.0.0.1:9001 maxconn 2 weight 3\n'
             ' server s2 [::1]:9002 rise 2 fall 3 proto h2 backup\n'),
    ('listen', 'listen l 127.0.0.1:9000\n mode tcp\n server a 10.0.0.1:1\n server b 10.0.0.2:2 disabled\n'
               'listen s\n bind :::9001\n stats enable\n stats refresh 5s\n'),
    ('quotes', 'defaults\n no option redispatch\n option http-server-close # comment\n'
               'frontend \'quoted name\'\n bind :1\n'),
    ('escapes', 'frontend "a\\"b\\\\c\\r\\n\\t"\n bind :1\n stats uri /a\\ b\\#c\n stats enable\n'),
    ('missing-backend', 'frontend f\n bind :80\n default_backend missing\n'),
    ('bad-limit', 'global\n tune.buffers.limit 2\n'),
    ('limit-reserve', 'global\n tune.buffers.limit 3\n tune.buffers.reserve 3\n'),
    ('unknown-kw', 'frontend f\n http-request deny\n'),
    ('times', 'defaults\n timeout client 1us\n timeout server 4294967295\n timeout connect 49d\n'
              ' timeout queue 1h\n timeout http-request 1m\n timeout http-keep-alive 0\n timeout check 10s\n'
              'listen l\n bind :1\n server s 127.0.0.1:2\n'),
    ('time-overflow', 'defaults\n timeout client 50d\n'),
    ('sizes', 'global\n tune.bufsize 1g\n tune.maxrewrite 18446744073709551615\n'),
    ('size-suffix', 'global\n tune.bufsize 16K\n tune.maxrewrite 1k\n'),
    ('httpchk-crlf', 'backend b\n option httpchk GET "/x\\r\\nX: y"\n server s 127.0.0.1:1 check\n'
                     'frontend f\n bind :1\n default_backend b\n'),
    ('httpchk-ver', 'backend b\n option httpchk GET / HTTP/1.1\\r\\nHost:\\ x\n server s 127.0.0.1:1\n'),
    ('dup-names', 'backend b\n server s 127.0.0.1:1\nbackend b\n server s 127.0.0.1:1\n'),
    ('mode-mismatch', 'frontend f\n mode tcp\n bind :1\n default_backend b\nbackend b\n server s 127.0.0.1:1\n'),
    ('no-bind', 'frontend f\n default_backend b\nbackend b\n server s 127.0.0.1:1\n'),
    ('bad-addr', 'backend b\n server s 999.0.0.1:1\n server t [::1:2\n server u host:port\n'),
    ('weights', 'backend b\n server s 127.0.0.1:1 weight 256\n server t 127.0.0.1:2 weight 257\n'),
    ('default-server', 'defaults\n default-server inter 100ms rise 1 fall 1 maxconn 1\n'
                       'listen l\n bind 0.0.0.0:1\n balance roundrobin\n retries 3\n option redispatch\n'
                       ' option httpclose\n server s 127.0.0.1:1 check\n'),
    ('h2-settings', 'global\n tune.h2.max-concurrent-streams 1\n tune.h2.initial-window-size 0\n'
                    ' tune.h2.header-table-size 0\n tune.h2.max-header-list-size 1\n maxconn 1\n'),
    ('comments-only', '# nothing\n\n   \t\n#global\n'),
    ('empty', ''),
    ('unterminated-quote', 'frontend "abc\n bind :1\n'),
    ('backslash-eol', 'frontend f\\\n bind :1\\'),
    ('nul', 'global\n nbthread 2\x00junk\n'),
    ('crlf', 'global\r\n nbthread 2\r\n'),
    ('long-line', 'global\n log ' + 'x' * 5000 + '\n'),
    ('many-args', 'backend b\n server s 127.0.0.1:1' + ' check' * 200 + '\n'),
]
write('cfg', cfgs)

# ---- stats query + names (NUL-separated) ----
st = [
    ('empty', ''),
    ('json', '?json'),
    ('format-json', 'format=json'),
    ('prom', ';prom'),
    ('metrics', 'metrics'),
    ('format-prometheus', '?format=prometheus'),
    ('html', 'html'),
    ('mixed', '?format=html&json=1'),
    ('names-plain', '?json\x00web\x00app\x00s1\x00Layer7 check passed'),
    ('names-html', 'html\x00<script>\x00a&b\x00"q\'\x00<b>x</b>'),
    ('names-json', 'json\x00a"b\x00c\\d\x00e\nf\x00\x01\x1f\x7f'),
    ('names-prom', 'prom\x00a\nsluice_fake 1\x00b"c\x00d\\e\x00r\r\n'),
    ('names-long', 'prom\x00' + 'n' * 200 + '\x00' + '<' * 130 + '\x00' + '"' * 130 + '\x00' + '\\' * 130),
    ('names-utf8', 'json\x00\xc3\xa9\x00\xff\xfe\x00\xe2\x80\xa8\x00x'),
]
write('statspage', st)


# ---- HTTP/2 frames ----
def frame(ftype, flags, sid, payload=b''):
    return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + struct.pack('>I', sid) + payload


PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINUP, CONT = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 1, 1, 4, 8, 0x20


def settings(*pairs):
    return frame(SETTINGS, 0, 0, b''.join(struct.pack('>HI', k, v) for k, v in pairs))


def lit(name, value):
    """HPACK literal header field without indexing, new name."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b'\x00' + bytes([len(n)]) + n + bytes([len(v)]) + v


def req_block(method='GET', path='/', authority='a', extra=()):
    b = lit(':method', method) + lit(':scheme', 'http') + lit(':path', path) + lit(':authority', authority)
    for k, v in extra:
        b += lit(k, v)
    return b


# static-table indexed: 0x82 GET, 0x86 http, 0x84 /, 0x41 :authority literal with indexing
IDX_GET = b'\x82\x86\x84\x41\x01a'

SRV_START = PREFACE + settings()
h2s = [
    ('get', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, IDX_GET)),
    ('get-literal', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, req_block(path='/cl/100'))),
    ('two-streams', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, req_block(path='/ch/300'))
     + frame(HEADERS, END_STREAM | END_HEADERS, 3, req_block(method='HEAD', path='/cl/10'))
     + settings() + frame(SETTINGS, ACK, 0)),
    ('post-data', SRV_START + frame(HEADERS, END_HEADERS, 1,
                                    req_block('POST', '/cl/5', extra=[('content-length', '11')]))
     + frame(DATA, 0, 1, b'hello ') + frame(DATA, END_STREAM, 1, b'world')),
    ('post-no-cl', SRV_START + frame(HEADERS, END_HEADERS, 1, req_block('POST', '/'))
     + frame(DATA, 0, 1, b'x' * 100) + frame(DATA, END_STREAM, 1, b'')),
    ('cl-mismatch', SRV_START + frame(HEADERS, END_HEADERS, 1,
                                      req_block('POST', '/', extra=[('content-length', '3')]))
     + frame(DATA, END_STREAM, 1, b'abcdef')),
    ('padded', SRV_START + frame(HEADERS, END_HEADERS | PADDED, 1, b'\x03' + IDX_GET + b'\x00' * 3)
     + frame(DATA, END_STREAM | PADDED, 1, b'\x02ab\x00\x00')),
    ('priority-flag', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS | PRIO, 1,
                                        struct.pack('>IB', 0x80000000, 200) + IDX_GET)),
    ('priority', SRV_START + frame(PRIORITY, 0, 3, struct.pack('>IB', 1, 16))
     + frame(PRIORITY, 0, 1, struct.pack('>IB', 1, 16))),
    ('rst', SRV_START + frame(HEADERS, END_HEADERS, 1, req_block(path='/hold'))
     + frame(RST, 0, 1, struct.pack('>I', 8))),
    ('rst-idle', SRV_START + frame(RST, 0, 5, struct.pack('>I', 0))),
    ('settings-all', PREFACE + settings((1, 0), (2, 0), (3, 1), (4, 0x7fffffff), (5, 16384), (6, 100),
                                        (8, 1), (9, 1), (0xffff, 7))),
    ('settings-bad', PREFACE + settings((2, 2)) + settings((4, 0x80000000)) + settings((5, 100))),
    ('settings-window0', PREFACE + settings((4, 0)) + frame(HEADERS, END_STREAM | END_HEADERS, 1,
                                                          req_block(path='/cl/70000'))
     + frame(WINUP, 0, 1, struct.pack('>I', 100)) + frame(WINUP, 0, 0, struct.pack('>I', 100))),
    ('settings-ack-payload', SRV_START + frame(SETTINGS, ACK, 0, b'\x00\x01\x00\x00\x00\x00')),
    ('push', SRV_START + frame(PUSH, END_HEADERS, 1, struct.pack('>I', 2) + IDX_GET)),
    ('ping', SRV_START + frame(PING, 0, 0, b'12345678') + frame(PING, ACK, 0, b'abcdefgh')
     + frame(PING, 0, 0, b'short')),
    ('goaway', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, IDX_GET)
     + frame(GOAWAY, 0, 0, struct.pack('>II', 1, 0) + b'debug data')),
    ('winup-zero', SRV_START + frame(WINUP, 0, 0, struct.pack('>I', 0))),
    ('winup-overflow', SRV_START + frame(WINUP, 0, 0, struct.pack('>I', 0x7fffffff))
     + frame(WINUP, 0, 0, struct.pack('>I', 0x7fffffff))),
    ('continuation', SRV_START + frame(HEADERS, 0, 1, IDX_GET[:3]) + frame(CONT, 0, 1, IDX_GET[3:4])
     + frame(CONT, END_HEADERS, 1, IDX_GET[4:]) + frame(DATA, END_STREAM, 1, b'')),
    ('continuation-interleaved', SRV_START + frame(HEADERS, 0, 1, IDX_GET[:3]) + frame(PING, 0, 0, b'x' * 8)),
    ('unknown-type', SRV_START + frame(0x42, 0xff, 0, b'xyz') + frame(HEADERS, END_STREAM | END_HEADERS, 1, IDX_GET)),
    ('lower-stream-id', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 5, IDX_GET)
     + frame(HEADERS, END_STREAM | END_HEADERS, 3, IDX_GET)),
    ('even-stream', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 2, IDX_GET)),
    ('data-idle', SRV_START + frame(DATA, 0, 1, b'abc')),
    ('huge-length', SRV_START + b'\xff\xff\xff\x00\x00\x00\x00\x00\x01'),
    ('connect', SRV_START + frame(HEADERS, END_HEADERS, 1, lit(':method', 'CONNECT') + lit(':authority', 'a:443'))),
    ('host-authority', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1,
                                         req_block(authority='a', extra=[('host', 'b')]))),
    ('conn-header', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1,
                                      req_block(extra=[('connection', 'close'), ('te', 'gzip')]))),
    ('uppercase-header', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, req_block(extra=[('X-Up', 'v')]))),
    ('crlf-value', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, req_block(extra=[('x', 'a\r\nb: c')]))),
    ('hpack-bad', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, b'\xff\xff\xff\xff\xff')),
    ('hpack-table-update', SRV_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, b'\x3f\xe1\x1f' + IDX_GET)),
    ('trailers', SRV_START + frame(HEADERS, END_HEADERS, 1, req_block('POST', '/'))
     + frame(DATA, 0, 1, b'abc') + frame(HEADERS, END_STREAM | END_HEADERS, 1, lit('x-trailer', '1'))),
    ('100-continue', SRV_START + frame(HEADERS, END_HEADERS, 1,
                                       req_block('PUT', '/100/10', extra=[('expect', '100-continue')]))
     + frame(DATA, END_STREAM, 1, b'body')),
    ('many-streams', SRV_START + b''.join(frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, IDX_GET)
                                          for i in range(20))),
    ('bad-preface', b'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n' + settings()),
    ('http1', b'GET / HTTP/1.1\r\nHost: a\r\n\r\n'),
]
write('h2_server', h2s)

# client side: what a server sends back to requests the harness opens
# (stream 1: GET /a, stream 3: POST /b with a body, stream 5: HEAD /c).


def rsp_block(status='200', extra=()):
    b = lit(':status', status)
    for k, v in extra:
        b += lit(k, v)
    return b


CLI_START = settings() + frame(SETTINGS, ACK, 0)
h2c = [
    ('200-cl', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block(extra=[('content-length', '5')]))
     + frame(DATA, END_STREAM, 1, b'hello')),
    ('200-no-cl', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block()) + frame(DATA, 0, 1, b'abc')
     + frame(DATA, END_STREAM, 1, b'def')),
    ('204', CLI_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, rsp_block('204'))),
    ('304-cl', CLI_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, rsp_block('304', [('content-length', '9')]))),
    ('head', CLI_START + frame(HEADERS, END_STREAM | END_HEADERS, 5, rsp_block(extra=[('content-length', '1234')]))),
    ('interim', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block('100'))
     + frame(HEADERS, END_HEADERS, 1, rsp_block('103', [('link', '</s>')]))
     + frame(HEADERS, END_STREAM | END_HEADERS, 1, rsp_block('200', [('content-length', '0')]))),
    ('101', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block('101'))),
    ('all-streams', CLI_START + b''.join(
        frame(HEADERS, END_HEADERS, s, rsp_block(extra=[('content-length', '2')])) + frame(DATA, END_STREAM, s, b'ok')
        for s in (1, 3, 5))),
    ('cl-mismatch', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block(extra=[('content-length', '2')]))
     + frame(DATA, END_STREAM, 1, b'toolong')),
    ('cl-dup', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block(extra=[('content-length', '2'),
                                                                          ('content-length', '3')]))
     + frame(DATA, END_STREAM, 1, b'ok')),
    ('te-header', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block(extra=[('transfer-encoding', 'chunked')]))
     + frame(DATA, END_STREAM, 1, b'0\r\n\r\n')),
    ('status-bad', CLI_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, rsp_block('2000'))),
    ('status-missing', CLI_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, lit('x', 'y'))),
    ('crlf-value', CLI_START + frame(HEADERS, END_STREAM | END_HEADERS, 1, rsp_block(extra=[('x', 'a\r\nb: c')]))),
    ('trailers', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block()) + frame(DATA, 0, 1, b'abc')
     + frame(HEADERS, END_STREAM | END_HEADERS, 1, lit('x-t', '1'))),
    ('rst', CLI_START + frame(RST, 0, 1, struct.pack('>I', 2)) + frame(RST, 0, 3, struct.pack('>I', 7))),
    ('goaway-low', CLI_START + frame(GOAWAY, 0, 0, struct.pack('>II', 1, 0))
     + frame(HEADERS, END_STREAM | END_HEADERS, 1, rsp_block('200', [('content-length', '0')]))),
    ('goaway-error', CLI_START + frame(GOAWAY, 0, 0, struct.pack('>II', 0, 1) + b'bye')),
    ('push', CLI_START + frame(PUSH, END_HEADERS, 1, struct.pack('>I', 2) + IDX_GET)),
    ('settings-window0', settings((4, 0), (3, 1), (5, 16384)) + frame(SETTINGS, ACK, 0)
     + frame(WINUP, 0, 3, struct.pack('>I', 10)) + frame(WINUP, 0, 0, struct.pack('>I', 10))),
    ('ping', CLI_START + frame(PING, 0, 0, b'12345678')),
    ('padded-data', CLI_START + frame(HEADERS, END_HEADERS | PADDED, 1, b'\x02' + rsp_block() + b'\x00\x00')
     + frame(DATA, END_STREAM | PADDED, 1, b'\x01x\x00')),
    ('continuation', CLI_START + frame(HEADERS, 0, 1, rsp_block()[:4]) + frame(CONT, END_HEADERS, 1, rsp_block()[4:])
     + frame(DATA, END_STREAM, 1, b'')),
    ('data-unopened', CLI_START + frame(DATA, END_STREAM, 7, b'x')),
    ('headers-even', CLI_START + frame(HEADERS, END_STREAM | END_HEADERS, 2, rsp_block())),
    ('big-data', CLI_START + frame(HEADERS, END_HEADERS, 1, rsp_block()) + frame(DATA, 0, 1, b'z' * 16384)
     + frame(DATA, 0, 1, b'z' * 16384) + frame(DATA, END_STREAM, 1, b'z' * 100)),
    ('no-settings', frame(HEADERS, END_STREAM | END_HEADERS, 1, rsp_block())),
    ('garbage', b'HTTP/1.1 200 OK\r\n\r\n'),
]
write('h2_client', h2c)
