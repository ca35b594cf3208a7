"""The shared token on czar -> worker gRPC calls.

Every call carries `authorization: Bearer <grpc_token>` (the cluster's generated token, see
qserv/config.py); a worker's `TokenCheck` interceptor refuses any call without it, or with
another, as UNAUTHENTICATED before the method runs. Why a token and not mutual TLS: the
czar and its workers already share the cluster's secrets file, a token costs nothing on the
row stream, and a deployment that wants encryption between hosts can put TLS around it.

Clients get channels from `aio_channel` / `channel`: the token is added by a client
interceptor, so call sites stay as they are.
"""

from __future__ import annotations

import hmac

import grpc

HEADER = "authorization"
REFUSED = "a valid cluster token is required (the grpc_token of the cluster's secrets.json)"


def _with_token(details: grpc.aio.ClientCallDetails, token_metadata) -> grpc.aio.ClientCallDetails:
    return details._replace(metadata=list(details.metadata or ()) + [token_metadata])


class _AioToken:
    def __init__(self, token: str):
        self.metadata = (HEADER, f"Bearer {token}")


class _AioUnaryUnary(_AioToken, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(_with_token(details, self.metadata), request)


class _AioUnaryStream(_AioToken, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(_with_token(details, self.metadata), request)


class _AioStreamUnary(_AioToken, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await continuation(_with_token(details, self.metadata), request_iterator)


class _AioStreamStream(_AioToken, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):
        return await continuation(_with_token(details, self.metadata), request_iterator)


class _SyncDetails:
    def __init__(self, details, metadata):
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class _SyncToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                 grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, token: str):
        self.metadata = (HEADER, f"Bearer {token}")

    def _details(self, details):
        return _SyncDetails(details, list(details.metadata or ()) + [self.metadata])

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)


def aio_channel(address: str, token: str, options=()) -> grpc.aio.Channel:
    """An asyncio channel to a worker whose calls carry `token`."""
    # one object per call kind: grpc.aio files an interceptor under the first kind it is
    interceptors = [kind(token) for kind in (_AioUnaryUnary, _AioUnaryStream, _AioStreamUnary,
                                             _AioStreamStream)]
    return grpc.aio.insecure_channel(address, options=list(options), interceptors=interceptors)


def channel(address: str, token: str, options=()) -> grpc.Channel:
    """A blocking channel to a worker whose calls carry `token` (close it when done)."""
    return grpc.intercept_channel(grpc.insecure_channel(address, options=list(options)),
                                  _SyncToken(token))


class TokenCheck(grpc.aio.ServerInterceptor):
    """The worker side: calls without the cluster's token end UNAUTHENTICATED, unrun."""

    def __init__(self, token: str):
        if not token:
            raise ValueError("no grpc_token in the cluster config: run `qserv up` to generate one")
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation, details):
        given = next((v for k, v in details.invocation_metadata or () if k == HEADER), "")
        handler = await continuation(details)
        if handler is None or hmac.compare_digest(str(given).encode(), self._expected):
            return handler
        return _refusing(handler)


async def _refuse(request_or_iterator, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED)


def _refusing(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that refuses the call (nothing is read)."""
    if handler.request_streaming and handler.response_streaming:
        make = grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        make = grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        make = grpc.unary_stream_rpc_method_handler
    else:
        make = grpc.unary_unary_rpc_method_handler
    return make(_refuse, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
