using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;

namespace IfApi.Relay;

/// <summary>
/// Carries frames both ways between a Linux tap and an IfApi tap's WebSocket. From the Linux tap, a
/// thread of its own takes every frame waiting and, in the batched framing, sends them as one
/// message; from the socket, each frame is one write into the tap.
/// </summary>
public sealed class Relay(LinuxTap tap, ClientWebSocket socket, TextWriter log)
{
    public const string BatchProtocol = "ifapi.batch";
    private const int BatchBytes = 64 * 1024;
    private const int MaxRecord = 2 + ushort.MaxValue;

    private volatile bool _stopping;

    private bool Batched => socket.SubProtocol == BatchProtocol;

    /// <summary>The IfApi interface's name, once a cloning open has said it.</summary>
    public string? RemoteName { get; private set; }

    /// <summary>Relays until the socket closes or <paramref name="stop"/> fires (then it closes the socket).</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var up = new Thread(TapToSocket) { IsBackground = true, Name = "tap→socket" };
        up.Start();
        using var closing = stop.Register(() => _ = CloseAsync());
        try
        {
            await SocketToTapAsync();
        }
        finally
        {
            _stopping = true;
            up.Join(TimeSpan.FromSeconds(2));
        }
    }

    private async Task CloseAsync()
    {
        _stopping = true;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "relay stopped", timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            socket.Abort();
        }
    }

    private void TapToSocket()
    {
        var batch = new byte[BatchBytes + MaxRecord];
        try
        {
            while (!_stopping)
            {
                if (!tap.WaitReadable(200))
                    continue;
                var used = 0;
                while (used < BatchBytes)
                {
                    var n = tap.Read(batch.AsSpan(used + 2, ushort.MaxValue));
                    if (n < 0)
                        break; // none waiting: send what there is
                    if (!Batched)
                    {
                        Send(batch.AsMemory(2, n));
                        continue;
                    }
                    BinaryPrimitives.WriteUInt16BigEndian(batch.AsSpan(used), (ushort)n);
                    used += 2 + n;
                }
                if (used > 0)
                    Send(batch.AsMemory(0, used));
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or InvalidOperationException)
        {
            // the socket closed: the other loop ends too
        }
    }

    // One thread sends, and waits for each send: the Linux tap's own queue holds what comes meanwhile.
    private void Send(ReadOnlyMemory<byte> message) =>
        socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None).AsTask().GetAwaiter().GetResult();

    private async Task SocketToTapAsync()
    {
        var buffer = new byte[2 * MaxRecord];
        var held = 0;
        while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
        {
            var r = await socket.ReceiveAsync(buffer.AsMemory(held), CancellationToken.None);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                if (socket.State == WebSocketState.CloseReceived)
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                log.WriteLine($"ifapi-relay: the service closed the device ({socket.CloseStatus} {socket.CloseStatusDescription})");
                return;
            }
            held += r.Count;
            if (r.MessageType == WebSocketMessageType.Text)
            {
                if (r.EndOfMessage)
                {
                    Control(buffer.AsSpan(0, held));
                    held = 0;
                }
                continue;
            }
            if (!Batched)
            {
                if (r.EndOfMessage)
                {
                    tap.Write(buffer.AsSpan(0, held));
                    held = 0;
                }
                else if (held == buffer.Length)
                    held = 0; // longer than any frame: not one
                continue;
            }
            var used = 0;
            while (held - used >= 2)
            {
                var length = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(used));
                if (held - used - 2 < length)
                    break;
                tap.Write(buffer.AsSpan(used + 2, length));
                used += 2 + length;
            }
            if (r.EndOfMessage)
                held = 0;
            else
            {
                buffer.AsSpan(used, held - used).CopyTo(buffer);
                held -= used;
            }
        }
    }

    /// <summary>A control message: the cloning device's <c>{"name":"tapN"}</c>.</summary>
    private void Control(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json.ToArray());
            if (doc.RootElement.TryGetProperty("name", out var name))
            {
                RemoteName = name.GetString();
                log.WriteLine($"ifapi-relay: {tap.Name} <-> {RemoteName}");
            }
        }
        catch (System.Text.Json.JsonException)
        {
            log.WriteLine($"ifapi-relay: ignoring a control message: {Encoding.UTF8.GetString(json)}");
        }
    }
}
