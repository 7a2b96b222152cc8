using System.Buffers;
using System.Net.WebSockets;
using IfApi.Frames;
using IfApi.Frames.Wire;

namespace IfApi.Tap;

/// <summary>
/// A tap's device open over a WebSocket: what the client writes the interface receives, what the
/// interface transmits the client reads. One loop reads the socket, one writes it from the port's
/// transmit queue; neither waits for the other, so a client that stops reading only fills its own
/// queue.
/// </summary>
/// <remarks>
/// Two framings. Without a subprotocol (what browser emulators speak): one binary message is one
/// frame. With <see cref="BatchFraming.Protocol"/>: a binary message carries one or more frames,
/// each preceded by its length (<see cref="BatchFraming"/>); a message ends on a frame's end.
/// Text messages from the client are control messages; none are defined yet, and they are ignored.
/// </remarks>
public sealed class TapSession
{
    /// <summary>How large a batched message the writer builds before sending it.</summary>
    public const int BatchBytes = 64 * 1024;

    private const int BatchReceiveBytes = 2 * (BatchFraming.LengthBytes + Frame.MaxLength); // a whole record always fits after what was left
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    private readonly WebSocket _socket;
    private readonly Port _port;
    private readonly TransmitQueue _queue;
    private readonly bool _batched;
    private readonly DeviceStream? _connection;

    /// <param name="socket">The device's WebSocket.</param>
    /// <param name="connection">The connection under <paramref name="socket"/>, when the writer may write frames to it itself.</param>
    /// <param name="port">The tap.</param>
    /// <param name="queue">The open device's transmit queue.</param>
    /// <param name="batched">Whether the client chose <see cref="BatchFraming.Protocol"/>.</param>
    internal TapSession(WebSocket socket, DeviceStream? connection, Port port, TransmitQueue queue, bool batched) =>
        (_socket, _connection, _port, _queue, _batched) = (socket, connection, port, queue, batched);

    /// <summary>
    /// Runs until the client closes, the interface is destroyed (1001), the bridge it was opened onto
    /// is destroyed (1001, <paramref name="segmentGone"/>) or the service stops (1001); then the
    /// device is closed, its queued frames discarded. <paramref name="greeting"/>, if any, is the
    /// first message, a text one.
    /// </summary>
    public async Task RunAsync(ReadOnlyMemory<byte> greeting, CancellationToken stopping, CancellationToken segmentGone = default)
    {
        var closing = new TaskCompletionSource<(WebSocketCloseStatus, string)>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!greeting.IsEmpty)
            await _socket.SendAsync(greeting, WebSocketMessageType.Text, endOfMessage: true, stopping);
        using var gone = _port.Gone.Register(() => closing.TrySetResult((WebSocketCloseStatus.EndpointUnavailable, "interface destroyed")));
        using var segment = segmentGone.Register(() => closing.TrySetResult((WebSocketCloseStatus.EndpointUnavailable, "bridge destroyed")));
        using var stop = stopping.Register(() => closing.TrySetResult((WebSocketCloseStatus.EndpointUnavailable, "service stopping")));
        var reader = _batched ? ReadBatchesAsync() : ReadFramesAsync();
        var writer = _connection is null && !_batched ? WriteFramesAsync() : WriteFramedAsync(_connection);
        await Task.WhenAny(closing.Task, reader, writer);

        // The device closes first: the writer's queue completes, so it stops after the send it is in.
        _port.Close(_queue);
        if (!await Ends(writer))
            _socket.Abort(); // a client that does not read holds the send: there is no waiting for it
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            var (status, reason) = closing.Task.IsCompleted ? closing.Task.Result
                : _queue.Revoked is { } revoked ? (WebSocketCloseStatus.EndpointUnavailable, revoked)
                : (_socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, "");
            using var timeout = new CancellationTokenSource(CloseTimeout);
            try
            {
                await _socket.CloseOutputAsync(status, reason, timeout.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
            {
                _socket.Abort();
            }
        }
        if (!await Ends(reader))
            _socket.Abort(); // the client's close never came
    }

    /// <summary>Whether the loop ended (well or not) within the close timeout.</summary>
    private static async Task<bool> Ends(Task loop)
    {
        try
        {
            await loop.WaitAsync(CloseTimeout);
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
        }
        return true;
    }

    // ---- client → interface ---------------------------------------------------------------------

    /// <summary>One binary message, one frame; one longer than any the port accepts is read to its end and counted.</summary>
    private async Task ReadFramesAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(FrameRoom(_port.Mtu));
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                var length = result.Count;
                var tooLong = false;
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close)
                {
                    if (length == buffer.Length && buffer.Length < FrameRoom(_port.Mtu))
                        buffer = Grow(buffer, FrameRoom(_port.Mtu)); // the MTU was raised during this receive
                    else if (length == buffer.Length)
                        (tooLong, length) = (true, 0); // keep reading, keep nothing
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                switch (result.MessageType)
                {
                    case WebSocketMessageType.Close:
                        return;
                    case WebSocketMessageType.Binary when tooLong:
                        _port.Counters.InputError();
                        break;
                    case WebSocketMessageType.Binary:
                        _port.Write(buffer.AsSpan(0, length));
                        break;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static byte[] Grow(byte[] buffer, int size)
    {
        var larger = ArrayPool<byte>.Shared.Rent(size);
        buffer.CopyTo(larger, 0);
        ArrayPool<byte>.Shared.Return(buffer);
        return larger;
    }

    /// <summary>Room for the longest frame the port accepts, and a byte to tell a longer one.</summary>
    private static int FrameRoom(int mtu) => Math.Min(mtu + 14 + 4, Frame.MaxLength) + 1;

    /// <summary>
    /// Length-prefixed frames in binary messages. A record may arrive split across reads of one
    /// message; what is left when the message ends (half a length, a frame cut short) is an input error.
    /// </summary>
    private async Task ReadBatchesAsync()
    {
        // Small at first: most batches are a few frames; a record that does not fit makes it grow.
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            var held = 0;
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer.AsMemory(held), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                    return;
                if (result.MessageType != WebSocketMessageType.Binary)
                {
                    held = 0; // a control message: not frames
                    continue;
                }
                held += result.Count;
                var used = WriteRecords(buffer.AsSpan(0, held));
                if (result.EndOfMessage)
                {
                    if (used < held)
                        _port.Counters.InputError();
                    held = 0;
                }
                else
                {
                    buffer.AsSpan(used, held - used).CopyTo(buffer);
                    held -= used;
                    if (held == buffer.Length)
                        buffer = Grow(buffer, BatchReceiveBytes);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes every whole record in <paramref name="records"/> into the port; returns the bytes they took.</summary>
    private int WriteRecords(ReadOnlySpan<byte> records)
    {
        var reader = new BatchReader(records);
        while (reader.TryRead(out var frame))
            _port.Write(frame);
        return reader.Consumed;
    }

    // ---- interface → client ---------------------------------------------------------------------

    /// <summary>
    /// What is queued, gathered into one buffer and sent at once: in the plain framing one WebSocket
    /// message per frame, framed here and written to the connection; in the batched one a message of
    /// records (through the WebSocket when the connection is not this session's to write, as over
    /// HTTP/2). A send goes as soon as the queue is empty or <see cref="BatchBytes"/> are gathered,
    /// so gathering adds no wait.
    /// </summary>
    private async Task WriteFramedAsync(DeviceStream? connection)
    {
        var queue = _queue.Reader;
        while (await queue.WaitToReadAsync())
        {
            // Rented while there is something to send, sized for what waits: an idle device holds
            // no buffer, and a frame or two take a small one the pool keeps plenty of.
            var room = FrameRoom(_port.Mtu) + WebSocketFrames.MaxServerHeader;
            var waiting = _queue.Count;
            TransmitQueue.NoteDepth(waiting);
            var buffer = ArrayPool<byte>.Shared.Rent(WebSocketFrames.MaxServerHeader + Math.Min(BatchBytes, waiting * room) + room);
            try
            {
                var used = WebSocketFrames.MaxServerHeader; // batched: the message's header goes in front, last
                while (used < BatchBytes && queue.TryRead(out var frame))
                {
                    var needs = (_batched ? BatchFraming.LengthBytes : WebSocketFrames.MaxServerHeader) + frame.Length;
                    if (used + needs > buffer.Length)
                    {
                        // More came than the buffer was sized for: what it holds goes first.
                        try
                        {
                            await WriteAsync(connection, buffer, used);
                        }
                        catch
                        {
                            frame.Release();
                            throw;
                        }
                        used = WebSocketFrames.MaxServerHeader;
                        if (used + needs > buffer.Length)
                        {
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = ArrayPool<byte>.Shared.Rent(used + needs);
                        }
                    }
                    used += _batched ? Append(buffer.AsSpan(used), frame) : AppendMessage(buffer.AsSpan(used), frame);
                }
                await WriteAsync(connection, buffer, used);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Copies one frame into the buffer as a message of its own and lets it go.</summary>
    private int AppendMessage(Span<byte> to, Frame frame)
    {
        var length = frame.Length;
        var header = WebSocketFrames.WriteHeader(to, WebSocketOpcode.Binary, length);
        frame.Span.CopyTo(to[header..]);
        frame.Release();
        _port.Counters.Output(length);
        return header + length;
    }

    /// <summary>Writes the messages gathered after the header room; batched, one message, its header put in front now.</summary>
    private ValueTask WriteAsync(DeviceStream? connection, byte[] buffer, int used)
    {
        var start = WebSocketFrames.MaxServerHeader;
        if (used == start)
            return ValueTask.CompletedTask;
        if (connection is null) // batched, through the WebSocket, which frames the message itself
            return _socket.SendAsync(buffer.AsMemory(start, used - start), WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        if (_batched)
        {
            var records = used - start;
            start -= WebSocketFrames.HeaderLength(records);
            WebSocketFrames.WriteHeader(buffer.AsSpan(start), WebSocketOpcode.Binary, records);
        }
        return connection.WriteAsync(buffer.AsMemory(start, used - start));
    }

    /// <summary>Each transmitted frame as one binary message, through the WebSocket (plain framing over HTTP/2).</summary>
    private async Task WriteFramesAsync()
    {
        var queue = _queue.Reader;
        while (await queue.WaitToReadAsync())
        {
            TransmitQueue.NoteDepth(_queue.Count);
            while (queue.TryRead(out var frame))
            {
                try
                {
                    await _socket.SendAsync(frame.Memory, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
                    _port.Counters.Output(frame.Length);
                }
                finally
                {
                    frame.Release();
                }
            }
        }
    }

    /// <summary>
    /// Copies one frame into a batch as a record and lets it go. A frame too long for a record (a
    /// jumbo MTU above 65521) cannot be framed: an output error.
    /// </summary>
    private int Append(Span<byte> to, Frame frame)
    {
        var length = frame.Length;
        if (!BatchFraming.Fits(length))
        {
            frame.Release();
            _port.Counters.OutputError();
            return 0;
        }
        var written = BatchFraming.WriteRecord(to, frame.Span);
        frame.Release();
        _port.Counters.Output(length);
        return written;
    }
}
