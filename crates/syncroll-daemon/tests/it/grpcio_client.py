"""A stock Python grpcio client of syncrolld: `unix:PATH` and nothing else.

No channel options (in particular no `grpc.default_authority`) and no
generated code: calls go out as raw protobuf bytes, the way any client in
another language starts. Usage: python grpcio_client.py SOCKET
"""

import sys

import grpc


def call(channel, method, request):
    return channel.unary_unary(method)(request, timeout=10)


def string_field(number, text):
    """A protobuf length-delimited field holding `text`."""
    data = text.encode()
    key, size = bytes([number << 3 | 2]), len(data)
    varint = b""
    while True:
        byte, size = size & 0x7F, size >> 7
        varint += bytes([byte | (0x80 if size else 0)])
        if not size:
            return key + varint + data


def refused(channel, method, request, code):
    """The error `method` answers `request` with, which must be `code`."""
    try:
        call(channel, method, request)
    except grpc.RpcError as error:
        assert error.code() == code, (error.code(), error.details()[:300])
        return error.details()
    raise AssertionError(f"{method} served a request it should refuse")


def main(socket):
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        # grpc.health.v1.HealthCheckResponse{status: SERVING}
        health = call(channel, "/grpc.health.v1.Health/Check", b"")
        assert health == b"\x08\x01", f"health check answered {health!r}"

        # GetStatusResponse starts with field 1, the version string.
        status = call(channel, "/syncroll.v1.DaemonService/GetStatus", b"")
        assert status[:1] == b"\x0a", f"GetStatus answered {status[:40]!r}"

        # An unknown name with a newline: NOT_FOUND, the name escaped.
        get = "/syncroll.v1.CollectionService/GetCollection"
        details = refused(channel, get, string_field(1, "a\nb"), grpc.StatusCode.NOT_FOUND)
        assert details == 'collection "a\\nb" does not exist', details

        # A 1 MiB name: a short readable refusal. (An echo of the whole name
        # would outgrow grpcio's 8 KiB metadata limit and surface here as
        # RESOURCE_EXHAUSTED instead.)
        huge = "x" * (1 << 20)
        details = refused(channel, get, string_field(1, huge), grpc.StatusCode.NOT_FOUND)
        assert len(details) < 300 and "(1048576 characters)" in details, details
        create = "/syncroll.v1.CollectionService/CreateCollection"
        details = refused(channel, create, string_field(1, huge), grpc.StatusCode.INVALID_ARGUMENT)
        assert len(details) < 300 and "at most 128 characters" in details, details
    print("grpcio client: ok")


if __name__ == "__main__":
    main(sys.argv[1])
