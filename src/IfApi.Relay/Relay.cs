using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using IfApi.Frames.Wire;

namespace IfApi.Relay;

/// <summary>
/// Carries frames both ways between a Linux tap and an IfApi tap's WebSocket, on two threads of
/// its own. Up: every frame the tap has waiting is read (a TCP burst of up to 64 KB in one read,
/// with offloads, cut into MTU-sized frames here) and all of it sent in one write. Down: the frames
/// of what arrived are written into the tap, consecutive TCP segments glued back into one write.
/// </summary>
public sealed class Relay(LinuxTap tap, WsClient socket, TextWriter log)
{
    private const int BatchBytes = 64 * 1024;

    private readonly bool _batched = socket.SubProtocol == BatchFraming.Protocol;
    private volatile bool _stopping;
    private long _unsendable, _refused;

    /// <summary>Relays until the service closes the socket or <paramref name="stop"/> fires (then it closes it).</summary>
    public void Run(CancellationToken stop)
    {
        var up = new Thread(TapToSocket) { IsBackground = true, Name = "tap to socket" };
        up.Start();
        using var closing = stop.Register(() =>
        {
            _stopping = true;
            socket.Close();
        });
        try
        {
            SocketToTap();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.ComponentModel.Win32Exception)
        {
            log.WriteLine($"ifapi-relay: {e.Message}");
        }
        finally
        {
            _stopping = true;
            up.Join(TimeSpan.FromSeconds(2));
        }
        if (Interlocked.Read(ref _unsendable) > 0)
            log.WriteLine($"ifapi-relay: {_unsendable} packets from {tap.Name} could not be sent as frames and were dropped");
        if (Interlocked.Read(ref _refused) > 0)
            log.WriteLine($"ifapi-relay: {tap.Name} refused {_refused} frames (down, or its backlog full)");
    }

    private void TapToSocket()
    {
        var batch = new WsClient.Batch(socket, _batched, BatchBytes);
        var read = new byte[VirtioNet.HeaderLength + 65535 + 14];
        try
        {
            while (!_stopping)
            {
                if (!tap.WaitReadable(200))
                    continue;
                int n;
                while ((n = tap.Read(read)) >= 0)
                {
                    if (!tap.Offload)
                    {
                        if (_batched && !BatchFraming.Fits(n))
                        {
                            Interlocked.Increment(ref _unsendable); // a jumbo frame a 2-byte length cannot frame
                            continue;
                        }
                        read.AsSpan(0, n).CopyTo(batch.Reserve(n));
                        batch.Commit(n);
                    }
                    else if (n < VirtioNet.HeaderLength
                        || VirtioNet.Segment(read.AsSpan(0, VirtioNet.HeaderLength), read.AsSpan(VirtioNet.HeaderLength, n - VirtioNet.HeaderLength), batch) == 0)
                        Interlocked.Increment(ref _unsendable);
                    if (batch.Full)
                        batch.Send();
                }
                batch.Send();
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.ComponentModel.Win32Exception)
        {
            // The connection is gone (the receiving side ends too), or the tap failed: say so and
            // close, so that the service closes the device.
            if (!_stopping)
                log.WriteLine($"ifapi-relay: {e.Message}");
            socket.Close();
        }
    }

    private void SocketToTap()
    {
        var coalescer = tap.Offload ? new Coalescer(packet => Write(packet)) : null;
        while (true)
        {
            var message = socket.Receive();
            switch (message.Type)
            {
                case WebSocketOpcode.Close:
                    var status = message.Bytes.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(message.Bytes.Span) : 1005;
                    log.WriteLine($"ifapi-relay: the service closed the device ({status} {Encoding.UTF8.GetString(message.Bytes.Span[Math.Min(2, message.Bytes.Length)..])})");
                    return;
                case WebSocketOpcode.Text:
                    Control(message.Bytes.Span);
                    continue;
            }
            var bytes = message.Bytes.Span;
            if (!_batched)
                Write(coalescer, bytes);
            else
            {
                var records = new BatchReader(bytes);
                while (records.TryRead(out var frame))
                    Write(coalescer, frame);
            }
            // Glue only what has arrived: nothing waits for frames that may not come.
            if (!socket.HasBuffered)
                coalescer?.Flush();
        }
    }

    private void Write(Coalescer? coalescer, ReadOnlySpan<byte> frame)
    {
        if (coalescer is not null)
            coalescer.Add(frame);
        else
            Write(frame);
    }

    private void Write(ReadOnlySpan<byte> packet)
    {
        if (!tap.Write(packet))
            Interlocked.Increment(ref _refused);
    }

    /// <summary>A control message: the cloning device's <c>{"name":"tapN"}</c>.</summary>
    private void Control(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            if (doc.RootElement.TryGetProperty("name", out var name))
                log.WriteLine($"ifapi-relay: {tap.Name} <-> {name.GetString()}");
        }
        catch (JsonException)
        {
            log.WriteLine($"ifapi-relay: ignoring a control message: {Encoding.UTF8.GetString(json)}");
        }
    }
}
