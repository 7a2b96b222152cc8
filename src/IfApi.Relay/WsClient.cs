using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using IfApi.Frames.Wire;

namespace IfApi.Relay;

/// <summary>
/// The client side of a WebSocket (RFC 6455), small and blocking, for a relay's two threads: one
/// receives, one sends. Messages to send are framed in place, several per write (<see cref="Batch"/>):
/// where a general-purpose client makes a system call per message, a relay that has read twenty
/// frames from its tap sends them in one. The framing itself is <see cref="WebSocketFrames"/> and
/// <see cref="BatchFraming"/>, which the service frames its side with.
/// </summary>
public sealed class WsClient : IDisposable
{
    private const string Guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly Lock _sending = new();
    private readonly byte[] _in = new byte[512 * 1024];
    private int _inStart, _inEnd;
    private readonly byte[] _message = new byte[512 * 1024]; // a fragmented message, put together
    private ulong _maskState; // for control frames, under _sending; each Batch has its own
    private bool _closeSent;  // under _sending: nothing is sent after a close

    private WsClient(Socket socket, Stream stream, string? subProtocol, ReadOnlySpan<byte> early)
    {
        (_socket, _stream, SubProtocol) = (socket, stream, subProtocol);
        early.CopyTo(_in);
        _inEnd = early.Length;
        _maskState = NewMaskSeed();
    }

    /// <summary>The subprotocol the server chose, if any.</summary>
    public string? SubProtocol { get; }

    /// <summary>Connects and upgrades; the server's refusal (its status line and body) becomes the exception's message.</summary>
    public static WsClient Connect(Uri uri, IReadOnlyList<string> protocols, string? bearer)
    {
        var secure = uri.Scheme == "wss";
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Connect(uri.DnsSafeHost, uri.Port);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (secure)
            {
                var tls = new SslStream(stream);
                tls.AuthenticateAsClient(uri.DnsSafeHost);
                stream = tls;
            }
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            var request = new StringBuilder()
                .Append($"GET {uri.PathAndQuery} HTTP/1.1\r\nHost: {uri.Authority}\r\n")
                .Append($"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n");
            if (protocols.Count > 0)
                request.Append($"Sec-WebSocket-Protocol: {string.Join(", ", protocols)}\r\n");
            if (bearer is not null)
                request.Append($"Authorization: Bearer {bearer}\r\n");
            stream.Write(Encoding.ASCII.GetBytes(request.Append("\r\n").ToString()));

            var buffer = new byte[16 * 1024];
            var length = 0;
            int end;
            while ((end = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8)) < 0)
            {
                var n = stream.Read(buffer, length, buffer.Length - length);
                if (n == 0 || length + n == buffer.Length)
                    throw new IOException("the server closed the connection during the upgrade");
                length += n;
            }
            var head = Encoding.ASCII.GetString(buffer, 0, end).Split("\r\n");
            if (!head[0].StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            {
                // A refusal: say what the service said (a problem+json body, as far as it came).
                Thread.Sleep(50);
                var more = socket.Available > 0 ? stream.Read(buffer, length, Math.Min(socket.Available, buffer.Length - length)) : 0;
                throw new IOException($"{head[0]}: {Encoding.UTF8.GetString(buffer, end + 4, length + more - end - 4)}");
            }
            string? Header(string name) => head.Skip(1).Select(h => h.Split(':', 2)).Where(h => h.Length == 2 && h[0].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
                .Select(h => h[1].Trim()).FirstOrDefault();
            var expected = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + Guid)));
            if (Header("Sec-WebSocket-Accept") != expected)
                throw new IOException("the server's Sec-WebSocket-Accept is wrong");
            return new WsClient(socket, stream, Header("Sec-WebSocket-Protocol"), buffer.AsSpan(end + 4, length - end - 4));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // ---- receiving --------------------------------------------------------------------------------

    /// <summary>A message received: its type (<see cref="WebSocketOpcode.Text"/>, <see cref="WebSocketOpcode.Binary"/> or <see cref="WebSocketOpcode.Close"/>) and bytes (valid until the next receive).</summary>
    public readonly record struct Message(WebSocketOpcode Type, ReadOnlyMemory<byte> Bytes);

    /// <summary>Whether a whole further frame is already here, so that a receive would not wait.</summary>
    public bool HasBuffered
    {
        get
        {
            var held = _in.AsSpan(_inStart, _inEnd - _inStart);
            return WebSocketFrames.TryReadHeader(held, out var header) && held.Length >= header.Length + header.Payload;
        }
    }

    /// <summary>The next message; pings are answered on the way, a close is answered and returned.</summary>
    public Message Receive()
    {
        var assembled = 0;
        var type = WebSocketOpcode.Continuation;
        while (true)
        {
            var (fin, opcode, payload) = ReceiveFrame();
            switch (opcode)
            {
                case WebSocketOpcode.Ping:
                    SendControl(WebSocketOpcode.Pong, payload.Span);
                    continue;
                case WebSocketOpcode.Pong:
                    continue;
                case WebSocketOpcode.Close:
                    // The server's close, or its answer to ours: answered once, echoing its status.
                    var status = payload.Length >= 2 ? payload[..2].ToArray() : [];
                    try
                    {
                        SendControl(WebSocketOpcode.Close, status);
                    }
                    catch (Exception e) when (e is IOException or ObjectDisposedException)
                    {
                    }
                    return new Message(WebSocketOpcode.Close, payload);
            }
            if (fin && assembled == 0 && opcode != WebSocketOpcode.Continuation)
                return new Message(opcode, payload);
            if (opcode != WebSocketOpcode.Continuation)
                type = opcode;
            if (assembled + payload.Length > _message.Length)
                throw new IOException("a fragmented message longer than 512 KB");
            payload.Span.CopyTo(_message.AsSpan(assembled));
            assembled += payload.Length;
            if (fin)
                return new Message(type, _message.AsMemory(0, assembled));
        }
    }

    private (bool Fin, WebSocketOpcode Opcode, ReadOnlyMemory<byte> Payload) ReceiveFrame()
    {
        WebSocketFrameHeader header;
        while (!WebSocketFrames.TryReadHeader(_in.AsSpan(_inStart, _inEnd - _inStart), out header))
            Fill();
        if (header.Payload < 0 || header.Length + header.Payload > _in.Length)
            throw new IOException($"a frame of {(ulong)header.Payload} bytes is longer than this client takes");
        while (_inEnd - _inStart < header.Length + header.Payload)
            Fill();
        var at = _inStart;
        _inStart += header.Length + (int)header.Payload;
        var data = _in.AsMemory(at + header.Length, (int)header.Payload);
        if (header.Masked) // a server must not mask, but if it does, undo it
            WebSocketFrames.Mask(data.Span, _in.AsSpan(at, header.Length)[header.MaskingKey]);
        return (header.Final, header.Opcode, data);
    }

    /// <summary>Reads more from the connection, first moving what is held to the front.</summary>
    private void Fill()
    {
        if (_inStart > 0)
        {
            _in.AsSpan(_inStart, _inEnd - _inStart).CopyTo(_in);
            (_inEnd, _inStart) = (_inEnd - _inStart, 0);
        }
        var n = _stream.Read(_in, _inEnd, _in.Length - _inEnd);
        if (n == 0)
            throw new EndOfStreamException("the server closed the connection");
        _inEnd += n;
    }

    // ---- sending ----------------------------------------------------------------------------------

    /// <summary>
    /// Messages framed in place in one buffer and sent in one write. Each message is either one
    /// frame (<see cref="Batched"/> false: one binary message per <see cref="Reserve"/>) or records
    /// of the batched framing (2-byte length and frame, all in one binary message).
    /// </summary>
    public sealed class Batch(WsClient client, bool batched, int capacity) : IFrameSink
    {
        private const int MaxHeader = WebSocketFrames.MaxClientHeader;
        private readonly byte[] _buffer = new byte[MaxHeader + capacity + MaxHeader + BatchFraming.RecordLength(BatchFraming.MaxFrame)];
        private int _used;           // bytes of finished messages (and, batched, the header room)
        private int _reserved;       // where the frame being filled starts
        private int _reservedLength;
        private ulong _maskState = NewMaskSeed();

        /// <summary>Whether what is held should be sent before more is added.</summary>
        public bool Full => _used >= capacity;

        public Span<byte> Reserve(int length)
        {
            if (batched && !BatchFraming.Fits(length))
                throw new ArgumentOutOfRangeException(nameof(length), length, "a record's length has two bytes");
            if (_used + MaxHeader + BatchFraming.RecordLength(length) > _buffer.Length)
                Send(); // the frames of one long read may not fit behind what is held
            _reservedLength = length;
            if (batched)
            {
                if (_used == 0)
                    _used = MaxHeader; // the message's header goes in front when it is sent
                _reserved = _used + BatchFraming.LengthBytes;
            }
            else
                _reserved = _used + WebSocketFrames.HeaderLength(length, masked: true);
            return _buffer.AsSpan(_reserved, length);
        }

        public void Commit(int length)
        {
            if (length != _reservedLength)
                throw new ArgumentException("a frame commits the length it reserved", nameof(length));
            if (batched)
            {
                BatchFraming.WriteLength(_buffer.AsSpan(_reserved - BatchFraming.LengthBytes), length);
                _used = _reserved + length;
                return;
            }
            var header = _buffer.AsSpan(_used, _reserved - _used);
            WebSocketFrames.WriteMaskedHeader(header, WebSocketOpcode.Binary, length, NextMask(ref _maskState));
            WebSocketFrames.Mask(_buffer.AsSpan(_reserved, length), header[^WebSocketFrames.MaskingKeyBytes..]);
            _used = _reserved + length;
        }

        /// <summary>Sends what is held in one write.</summary>
        public void Send()
        {
            if (_used == 0)
                return;
            var start = 0;
            if (batched)
            {
                var payload = _used - MaxHeader;
                start = MaxHeader - WebSocketFrames.HeaderLength(payload, masked: true);
                WebSocketFrames.WriteMaskedHeader(_buffer.AsSpan(start), WebSocketOpcode.Binary, payload, NextMask(ref _maskState));
                WebSocketFrames.Mask(_buffer.AsSpan(MaxHeader, payload), _buffer.AsSpan(MaxHeader - WebSocketFrames.MaskingKeyBytes, WebSocketFrames.MaskingKeyBytes));
            }
            lock (client._sending)
            {
                if (client._closeSent)
                    throw new IOException("the connection is closing");
                client._stream.Write(_buffer, start, _used - start);
            }
            _used = 0;
        }
    }

    private static ulong NewMaskSeed() => BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8)) | 1;

    /// <summary>A fresh masking key for each frame (xorshift64*, seeded from the system's random source).</summary>
    private static uint NextMask(ref ulong state)
    {
        var x = state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state = x;
        return (uint)((x * 0x2545F4914F6CDD1DUL) >> 32);
    }

    /// <summary>Sends a control frame (its payload at most 125 bytes, RFC 6455 section 5.5).</summary>
    private void SendControl(WebSocketOpcode opcode, ReadOnlySpan<byte> payload)
    {
        const int MaxControlPayload = 125;
        Span<byte> frame = stackalloc byte[WebSocketFrames.HeaderLength(MaxControlPayload, masked: true) + MaxControlPayload];
        var length = Math.Min(payload.Length, MaxControlPayload);
        lock (_sending)
        {
            if (_closeSent)
                return; // a close goes once, and nothing after it
            var header = WebSocketFrames.WriteMaskedHeader(frame, opcode, length, NextMask(ref _maskState));
            payload[..length].CopyTo(frame[header..]);
            WebSocketFrames.Mask(frame.Slice(header, length), frame[(header - WebSocketFrames.MaskingKeyBytes)..header]);
            _stream.Write(frame[..(header + length)]);
            _closeSent = opcode == WebSocketOpcode.Close;
        }
    }

    /// <summary>Starts the closing handshake (1000); the receiver sees the server's answer.</summary>
    public void Close()
    {
        try
        {
            SendControl(WebSocketOpcode.Close, [0x03, 0xe8]);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }
}
