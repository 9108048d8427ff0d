"""One framed request/reply connection to one server, over TCP or TLS.

The one socket edge of the client: it writes a request frame, reads the
reply frame, and runs the authentication handshake when a credential is
configured. One request at a time per connection.
"""

import socket
import ssl
import time
from typing import Optional, Union

from .auth import Credential, parse_nonce
from .errors import AuthError, CloudConnectionError, CloudTimeoutError, ProtocolError
from .frame import BadChecksum, FrameDecoder, FrameError, encode_frame
from .message import Reply, parse_reply

#: Default limit on connecting to a server, in seconds.
CONNECT_TIMEOUT_S = 3.0
#: Default limit on a request's reply, in seconds.
REQUEST_TIMEOUT_S = 30.0
#: Bytes asked of the socket per read.
_READ_BYTES = 256 * 1024


class Connection:
    """A framed connection to one server (use :meth:`open`)."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self._sock = sock  # type: Optional[socket.socket]
        self._decoder = FrameDecoder()
        self.address = address
        """The server's ``host:port``."""
        self.authenticated = False
        """True once the server accepted this connection's credential."""

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        ssl_context: Optional[ssl.SSLContext] = None,
        credential: Optional[Credential] = None,
        handshake_timeout: float = REQUEST_TIMEOUT_S,
    ) -> "Connection":
        """Connects (with TLS when ``ssl_context`` is given) and authenticates when
        ``credential`` is given.

        Raises CloudConnectionError when the server cannot be reached or the
        TLS handshake fails, CloudTimeoutError when it does not answer in
        time, AuthError when it refuses the credential.
        """
        address = "%s:%d" % (host, port)
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout)
        except socket.timeout:
            raise CloudTimeoutError("Cannot connect to %s: timed out" % address, address) from None
        except OSError as error:
            raise CloudConnectionError(
                "Cannot connect to %s: %s" % (address, error.strerror or error), address
            ) from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ssl_context is not None:
                sock = ssl_context.wrap_socket(sock, server_hostname=host)
        except socket.timeout:
            sock.close()
            raise CloudTimeoutError("Cannot connect to %s: TLS handshake timed out" % address, address) from None
        except (ssl.SSLError, OSError) as error:
            sock.close()
            raise CloudConnectionError(
                "Cannot connect to %s: TLS handshake failed: %s" % (address, error), address, reason="tls"
            ) from error
        connection = cls(sock, address)
        if credential is not None:
            try:
                connection._authenticate(credential, handshake_timeout)
            except BaseException:
                connection.close(polite=False)
                raise
        return connection

    def _authenticate(self, credential: Credential, timeout: float) -> None:
        hello = self.request(b"HELO", timeout)
        if not hello.ok:
            if hello.reason == "unknown-command":
                # A server without authentication (before issue 12) serves everyone.
                return
            raise AuthError(hello.reason, "Cannot authenticate to %s: %s" % (self.address, hello.detail))
        try:
            nonce = parse_nonce(hello.fields)
        except ValueError as error:
            raise ProtocolError(str(error), self.address) from None
        proof = credential.proof(nonce)
        reply = self.request(("AUTH:%s:%s" % (credential.role, proof)).encode("ascii"), timeout)
        if not reply.ok:
            raise AuthError(
                reply.reason,
                "Cannot authenticate to %s as %s: %s: %s"
                % (self.address, credential.role, reply.reason, reply.detail),
            )
        self.authenticated = True

    @property
    def closed(self) -> bool:
        """True once closed (by either side, as far as this side knows)."""
        return self._sock is None

    def request(self, payload: bytes, timeout: float = REQUEST_TIMEOUT_S) -> Reply:
        """Sends one request payload and returns the reply.

        Raises CloudConnectionError when the connection breaks (it is then
        closed), ProtocolError on a broken or mis-summed reply frame,
        CloudTimeoutError when no reply comes within ``timeout`` seconds
        (the connection is closed: a late reply would come out of order).
        """
        sock = self._sock
        if sock is None:
            raise CloudConnectionError("Connection to %s is closed" % self.address, self.address, "closed")
        frame = encode_frame(payload)
        deadline = time.monotonic() + timeout
        try:
            sock.settimeout(timeout)
            sock.sendall(frame)
            item = self._read(sock, deadline)
        except socket.timeout:
            self.close(polite=False)
            raise CloudTimeoutError(
                "No reply from %s within %.1f s" % (self.address, timeout), self.address
            ) from None
        except FrameError as error:
            self.close(polite=False)
            raise ProtocolError("Bad reply frame from %s: %s" % (self.address, error), self.address) from None
        except OSError as error:
            self.close(polite=False)
            raise CloudConnectionError(
                "Connection to %s failed: %s" % (self.address, error.strerror or error), self.address, "closed"
            ) from error
        if isinstance(item, BadChecksum):
            self.close(polite=False)
            raise ProtocolError("Reply from %s has a bad checksum (%r)" % (self.address, item), self.address)
        try:
            return parse_reply(item)
        except UnicodeDecodeError:
            self.close(polite=False)
            raise ProtocolError("Reply from %s is not UTF-8" % self.address, self.address) from None

    def _read(self, sock: socket.socket, deadline: float) -> Union[bytes, BadChecksum]:
        first = True
        while True:
            item = self._decoder.next()
            if item is not None:
                return item
            if not first:
                # The socket's timeout was set for the whole request; shorten it to what is left.
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout()
                sock.settimeout(remaining)
            first = False
            data = sock.recv(_READ_BYTES)
            if not data:
                raise ConnectionResetError(0, "closed by the server")
            self._decoder.push(data)

    def close(self, polite: bool = True) -> None:
        """Closes the connection, sending ``STOP`` first when ``polite``."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if polite:
                sock.settimeout(1.0)
                sock.sendall(encode_frame(b"STOP"))
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass
