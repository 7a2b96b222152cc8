// What both frame benchmarks measure with: a tap's device from the client side, and one timed run
// of frames from one device to another.
using System.Buffers.Binary;
using System.Diagnostics;
using IfApi.Frames.Wire;
using IfApi.Relay;

internal sealed record Figures(double FramesPerSecond, double Mbps, double P50Us, double P99Us, long Drops, double BytesPerFrame);

/// <summary>A tap's device from the client side: the relay's client, with the framing chosen.</summary>
internal sealed class Device : IDisposable
{
    private Device(WsClient socket) => Socket = socket;

    public WsClient Socket { get; }

    public bool Batched => Socket.SubProtocol == BatchFraming.Protocol;

    public static Task<Device> OpenAsync(Uri server, string tap, bool batched) =>
        Task.Run(() => new Device(WsClient.Connect(new UriBuilder(server) { Scheme = "ws", Path = $"/v1/interfaces/{tap}/tap" }.Uri, batched ? [BatchFraming.Protocol] : [], null)));

    /// <summary>
    /// Sends one broadcast from the address the runs send to (02:00:00:00:00:bb), so that bridges
    /// learn where the receiver is and send it unicast, as they would a real station that talks.
    /// </summary>
    public void Announce()
    {
        var batch = new WsClient.Batch(Socket, Batched, 4096);
        var f = batch.Reserve(64);
        f.Clear();
        ReadOnlySpan<byte> header = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0xbb, 0x88, 0xb5];
        header.CopyTo(f);
        BinaryPrimitives.WriteInt64BigEndian(f[14..], -2); // not a run's frame
        batch.Commit(64);
        batch.Send();
    }

    public void Dispose()
    {
        Socket.Close();
        Socket.Dispose();
    }
}

/// <summary>
/// One measurement, on two threads of its own: a sender and a receiver. Each frame carries its send
/// time; the receiver records one latency per frame into an array allocated up front and lets the
/// sender go on when half the window has arrived, so the clients allocate nothing per frame. The
/// sender writes what the window allows, up to <paramref name="perWrite"/> frames, in one socket
/// write: one message per frame in the plain framing, one message of records in the batched.
/// </summary>
internal sealed class FrameRun(Device tx, Device rx, int size, int window, int perWrite)
{
    private const int MaxSamples = 1 << 22;
    private readonly long[] _latency = new long[MaxSamples];
    private long _sent, _received;
    private volatile bool _stop, _counting = true;
    private readonly SemaphoreSlim _room = new(0, int.MaxValue);

    public async Task<Figures> RunAsync(TimeSpan duration)
    {
        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var receiver = new Thread(Receive) { IsBackground = true };
        var sender = new Thread(Send) { IsBackground = true };
        receiver.Start();
        sender.Start();
        await Task.Delay(duration);
        _stop = true;
        _room.Release();
        sender.Join();
        // What was sent is let through before the count is read: whatever does not come is a drop.
        var deadline = Stopwatch.StartNew();
        while (Volatile.Read(ref _received) < Volatile.Read(ref _sent) && deadline.ElapsedMilliseconds < 2000)
            await Task.Delay(5);
        var elapsed = clock.Elapsed.TotalSeconds;
        var received = Volatile.Read(ref _received);
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        _counting = false;
        SendStop();
        receiver.Join();
        var samples = _latency.AsSpan(0, (int)Math.Min(received, MaxSamples)).ToArray();
        Array.Sort(samples);
        double Us(double q) => samples.Length == 0 ? 0 : samples[(int)(q * (samples.Length - 1))] * 1e6 / Stopwatch.Frequency;
        return new Figures(received / elapsed, received * size * 8 / elapsed / 1e6, Us(0.50), Us(0.99),
            Volatile.Read(ref _sent) - received, received == 0 ? 0 : (double)bytes / received);
    }

    private static ReadOnlySpan<byte> Header => [0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x88, 0xb5];

    private static void Template(Span<byte> f)
    {
        f.Clear();
        Header.CopyTo(f);
    }

    private void SendStop()
    {
        var batch = new WsClient.Batch(tx.Socket, tx.Batched, 64 * 1024);
        var f = batch.Reserve(size);
        Template(f);
        BinaryPrimitives.WriteInt64BigEndian(f[14..], -1);
        batch.Commit(size);
        batch.Send();
    }

    private void Send()
    {
        var batch = new WsClient.Batch(tx.Socket, tx.Batched, 64 * 1024);
        while (!_stop)
        {
            var room = (int)Math.Min(perWrite, window - (Volatile.Read(ref _sent) - Volatile.Read(ref _received)));
            if (room <= 0)
            {
                _room.Wait();
                continue;
            }
            var now = Stopwatch.GetTimestamp();
            for (var i = 0; i < room; i++)
            {
                var f = batch.Reserve(size);
                Template(f);
                BinaryPrimitives.WriteInt64BigEndian(f[14..], now);
                batch.Commit(size);
            }
            Interlocked.Add(ref _sent, room);
            batch.Send();
        }
    }

    private void Receive()
    {
        while (true)
        {
            var message = rx.Socket.Receive();
            if (message.Type == WebSocketOpcode.Close)
                return;
            var now = Stopwatch.GetTimestamp();
            var bytes = message.Bytes.Span;
            if (!rx.Batched)
            {
                if (!Take(bytes, now))
                    return;
                continue;
            }
            var records = new BatchReader(bytes);
            while (records.TryRead(out var frame))
            {
                if (!Take(frame, now))
                    return;
            }
        }
    }

    /// <summary>Records one frame; false for the stop frame.</summary>
    private bool Take(ReadOnlySpan<byte> frame, long now)
    {
        var sent = BinaryPrimitives.ReadInt64BigEndian(frame[14..]);
        if (sent < 0)
            return false;
        if (!_counting)
            return true; // a straggler of the last round
        var n = Interlocked.Increment(ref _received);
        if (n <= MaxSamples)
            _latency[n - 1] = now - sent;
        if (Volatile.Read(ref _sent) - n == window / 2)
            _room.Release();
        return true;
    }
}

