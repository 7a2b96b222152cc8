using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using IfApi.Frames;
using IfApi.Frames.Wire;
using IfApi.Tap;

namespace IfApi.Tests;

/// <summary>
/// A device session whose connection it cannot write to itself (a WebSocket over HTTP/2 has no
/// upgraded stream): it sends through the WebSocket alone, one message a frame or one per batch.
/// </summary>
public sealed class TapSessionTests
{
    private static async Task<(WebSocket Server, WebSocket Client, IDisposable Sockets)> PairAsync(string? protocol)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var server = await listener.AcceptTcpClientAsync();
        listener.Stop();
        var ws = WebSocket.CreateFromStream(server.GetStream(), new WebSocketCreationOptions { IsServer = true, SubProtocol = protocol });
        var wc = WebSocket.CreateFromStream(client.GetStream(), new WebSocketCreationOptions { IsServer = false, SubProtocol = protocol });
        return (ws, wc, new Both(server, client));
    }

    private sealed class Both(TcpClient a, TcpClient b) : IDisposable
    {
        public void Dispose()
        {
            a.Dispose();
            b.Dispose();
        }
    }

    private static byte[] FrameBytes(int mark, int length = 60)
    {
        var f = new byte[length];
        Array.Fill(f, (byte)0xff, 0, 6);
        f[11] = 1;
        (f[12], f[13]) = (0x88, 0xb5);
        BinaryPrimitives.WriteInt32BigEndian(f.AsSpan(14), mark);
        return f;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Without_its_connection_the_session_sends_through_the_WebSocket(bool batched)
    {
        var (server, client, sockets) = await PairAsync(batched ? BatchFraming.Protocol : null);
        using var _ = sockets;
        var port = new Port(Guid.NewGuid(), mtu: 1500, up: true, queueLength: 64);
        var queue = port.TryOpen()!;
        using var stop = new CancellationTokenSource();
        var session = new TapSession(server, connection: null, port, queue, batched).RunAsync(default, stop.Token);

        for (var i = 0; i < 5; i++)
            port.Transmit(Frame.Copy(FrameBytes(i)));
        var got = new List<byte[]>();
        var buffer = new byte[64 * 1024];
        while (got.Count < 5)
        {
            var r = await client.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.True(r.EndOfMessage);
            if (!batched)
            {
                got.Add(buffer[..r.Count]);
                continue;
            }
            for (var at = 0; at < r.Count;)
            {
                var n = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(at));
                got.Add(buffer[(at + 2)..(at + 2 + n)]);
                at += 2 + n;
            }
        }
        Assert.Equal(Enumerable.Range(0, 5).Select(i => FrameBytes(i)), got);
        Assert.Equal(5, port.Counters.Snapshot().Opackets);

        // The service stops: the client hears 1001.
        stop.Cancel();
        var close = await client.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, client.CloseStatus);
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await session.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(port.IsOpen);
    }
}
