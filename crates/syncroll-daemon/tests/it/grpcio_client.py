"""A stock Python grpcio client of syncrolld: `unix:PATH` and nothing else.

No channel options (in particular no `grpc.default_authority`) and no
generated code: calls go out as raw protobuf bytes, the way any client in
another language starts. Usage: python grpcio_client.py SOCKET
"""

import sys

import grpc


def call(channel, method, request):
    return channel.unary_unary(method)(request, timeout=10)


def main(socket):
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        # grpc.health.v1.HealthCheckResponse{status: SERVING}
        health = call(channel, "/grpc.health.v1.Health/Check", b"")
        assert health == b"\x08\x01", f"health check answered {health!r}"

        # GetStatusResponse starts with field 1, the version string.
        status = call(channel, "/syncroll.v1.DaemonService/GetStatus", b"")
        assert status[:1] == b"\x0a", f"GetStatus answered {status[:40]!r}"

        # GetCollectionRequest{name: "a\nb"}: a readable NOT_FOUND.
        try:
            call(channel, "/syncroll.v1.CollectionService/GetCollection", b"\x0a\x03a\nb")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error
            assert error.details() == 'collection "a\\nb" does not exist', error.details()
        else:
            raise AssertionError("GetCollection of an unknown name succeeded")
    print("grpcio client: ok")


if __name__ == "__main__":
    main(sys.argv[1])
