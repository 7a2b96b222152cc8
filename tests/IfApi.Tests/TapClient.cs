using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using IfApi.Frames.Wire;

namespace IfApi.Tests;

/// <summary>A tap's device as a client holds it: a WebSocket to read and write frames.</summary>
public sealed class TapClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly byte[] _buffer = new byte[256 * 1024];
    private readonly Queue<byte[]> _batched = new(); // frames of a batch already read, not yet taken

    private TapClient()
    {
    }

    public WebSocket Socket => _socket;

    public static async Task<TapClient> ConnectAsync(Uri server, string path, string? protocol = null, TimeSpan? wait = null)
    {
        var client = new TapClient();
        if (protocol is not null)
            client._socket.Options.AddSubProtocol(protocol);
        var query = path.IndexOf('?', StringComparison.Ordinal);
        var uri = new UriBuilder(server)
        {
            Scheme = server.Scheme == "https" ? "wss" : "ws",
            Path = query < 0 ? path : path[..query],
            Query = query < 0 ? "" : path[(query + 1)..],
        }.Uri;
        using var timeout = new CancellationTokenSource(wait ?? TimeSpan.FromSeconds(10));
        await client._socket.ConnectAsync(uri, timeout.Token);
        return client;
    }

    public bool Batched => _socket.SubProtocol == BatchFraming.Protocol;

    /// <summary>Writes one frame (one message; in the batched framing, one record).</summary>
    public Task SendAsync(byte[] frame) => Batched ? SendBatchAsync([frame]) : SendRawAsync(frame);

    /// <summary>One binary message as given, whatever the framing.</summary>
    public Task SendRawAsync(byte[] message) =>
        _socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);

    /// <summary>Several frames in one batched message.</summary>
    public Task SendBatchAsync(IEnumerable<byte[]> frames)
    {
        var records = frames.ToList();
        var message = new byte[records.Sum(f => BatchFraming.RecordLength(f.Length))];
        var at = 0;
        foreach (var f in records)
            at += BatchFraming.WriteRecord(message.AsSpan(at), f);
        return SendRawAsync(message);
    }

    /// <summary>The next frame the interface transmitted, or null when none comes within <paramref name="wait"/>.</summary>
    public async Task<byte[]?> ReceiveAsync(TimeSpan? wait = null)
    {
        if (_batched.TryDequeue(out var pending))
            return pending;
        var message = await ReceiveMessageAsync(wait ?? TimeSpan.FromSeconds(5));
        if (message is not { Type: WebSocketMessageType.Binary })
            return null;
        if (!Batched)
            return message.Value.Bytes;
        var records = new BatchReader(message.Value.Bytes);
        while (records.TryRead(out var frame))
            _batched.Enqueue(frame.ToArray());
        return _batched.Dequeue();
    }

    /// <summary>The frames that arrive until none comes for <paramref name="quiet"/>.</summary>
    public async Task<List<byte[]>> ReceiveAllAsync(TimeSpan? quiet = null)
    {
        var frames = new List<byte[]>();
        while (await ReceiveAsync(quiet ?? TimeSpan.FromMilliseconds(300)) is { } f)
            frames.Add(f);
        return frames;
    }

    public async Task<string?> ReceiveTextAsync()
    {
        var message = await ReceiveMessageAsync(TimeSpan.FromSeconds(5));
        return message is { Type: WebSocketMessageType.Text } m ? Encoding.UTF8.GetString(m.Bytes) : null;
    }

    /// <summary>The close the server sent (status and reason), waiting up to <paramref name="wait"/>.</summary>
    public async Task<WebSocketCloseStatus?> ReceiveCloseAsync(TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        while (DateTime.UtcNow < deadline)
        {
            var message = await ReceiveMessageAsync(deadline - DateTime.UtcNow);
            if (message is { Type: WebSocketMessageType.Close })
                return _socket.CloseStatus;
            if (message is null && _socket.State != WebSocketState.Open)
                return _socket.CloseStatus;
        }
        return null;
    }

    private Task<(WebSocketMessageType Type, byte[] Bytes)?>? _pendingReceive;

    /// <summary>
    /// One whole message. A receive that times out stays pending and is picked up by the next call
    /// (cancelling a WebSocket receive would abort the socket).
    /// </summary>
    private async Task<(WebSocketMessageType Type, byte[] Bytes)?> ReceiveMessageAsync(TimeSpan wait)
    {
        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseSent))
            return null;
        _pendingReceive ??= ReadMessageAsync();
        var done = await Task.WhenAny(_pendingReceive, Task.Delay(wait));
        if (done != _pendingReceive)
            return null;
        var message = await _pendingReceive;
        _pendingReceive = null;
        return message;
    }

    private async Task<(WebSocketMessageType Type, byte[] Bytes)?> ReadMessageAsync()
    {
        var length = 0;
        while (true)
        {
            var r = await _socket.ReceiveAsync(_buffer.AsMemory(length), CancellationToken.None);
            length += r.Count;
            if (r.MessageType == WebSocketMessageType.Close)
                return (r.MessageType, []);
            if (r.EndOfMessage)
                return (r.MessageType, _buffer.AsSpan(0, length).ToArray());
        }
    }

    public async Task CloseAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _socket.Dispose();
    }
}

/// <summary>Ethernet frames to send in tests.</summary>
public static class Ether
{
    public static readonly byte[] Broadcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

    /// <summary>A locally administered unicast address ending in <paramref name="n"/>.</summary>
    public static byte[] Station(int n) => [0x02, 0x00, 0x00, 0x00, (byte)(n >> 8), (byte)n];

    /// <summary>
    /// A frame from <paramref name="source"/> to <paramref name="destination"/>, <paramref name="length"/> bytes in all;
    /// <paramref name="mark"/> goes in the first four payload bytes, to tell frames apart.</summary>
    public static byte[] Frame(byte[] destination, byte[] source, int length = 60, int mark = 0)
    {
        var f = new byte[length];
        destination.CopyTo(f, 0);
        source.CopyTo(f, 6);
        f[12] = 0x88;
        f[13] = 0xb5; // the IEEE's EtherType for local experiments
        if (length >= 18)
            BinaryPrimitives.WriteInt32BigEndian(f.AsSpan(14), mark);
        return f;
    }

    public static int Mark(byte[] frame) => BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(14));
}
