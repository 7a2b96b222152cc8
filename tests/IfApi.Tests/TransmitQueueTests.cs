using IfApi.Frames;

namespace IfApi.Tests;

/// <summary>The frame path's building blocks, without a socket: pooled frames and the bounded transmit queue.</summary>
public sealed class TransmitQueueTests
{
    [Fact]
    public void A_full_queue_drops_the_newest_frames_counts_them_and_gives_their_buffers_back()
    {
        var counters = new PortCounters();
        var queue = new TransmitQueue(capacity: 4, counters);
        var frames = Enumerable.Range(0, 10).Select(i => Frame.Copy([(byte)i, 1, 2])).ToList();
        foreach (var f in frames)
            Assert.True(queue.Enqueue(f));

        Assert.Equal(4, queue.Count);
        Assert.Equal(6, counters.Snapshot().Oqdrops);
        Assert.All(frames[4..], f => Assert.Equal(0, f.References));
        for (var i = 0; i < 4; i++)
        {
            Assert.True(queue.Reader.TryRead(out var f));
            Assert.Equal(i, f.Span[0]); // the oldest stay, in order
            f.Release();
        }
    }

    [Fact]
    public void Closing_discards_what_is_queued_and_refuses_more()
    {
        var counters = new PortCounters();
        var queue = new TransmitQueue(capacity: 8, counters);
        var queued = Enumerable.Range(0, 3).Select(_ => Frame.Copy(new byte[60])).ToList();
        queued.ForEach(f => queue.Enqueue(f));
        queue.Close();
        Assert.All(queued, f => Assert.Equal(0, f.References));
        var late = Frame.Copy(new byte[60]);
        Assert.False(queue.Enqueue(late));
        Assert.Equal(0, late.References);
        Assert.Equal(0, counters.Snapshot().Oqdrops);
    }

    [Fact]
    public void A_flooded_frame_is_one_buffer_held_until_the_last_port_has_sent_it()
    {
        var ports = Enumerable.Range(0, 3).Select(_ => new TransmitQueue(16, new PortCounters())).ToList();
        var frame = Frame.Copy(new byte[1514]);
        frame.AddReferences(ports.Count - 1); // the receiver's reference goes to the first queue
        ports.ForEach(p => p.Enqueue(frame));
        Assert.Equal(3, frame.References);

        foreach (var (port, left) in ports.Zip([2, 1, 0]))
        {
            Assert.True(port.Reader.TryRead(out var sent));
            Assert.Same(frame, sent);
            sent.Release();
            Assert.Equal(left, frame.References);
        }
    }

    [Fact]
    public void A_frame_released_too_often_is_a_bug_that_says_so()
    {
        var frame = Frame.Copy(new byte[14]);
        frame.Release();
        Assert.Throws<InvalidOperationException>(frame.Release);
    }

    [Fact]
    public void Frames_come_from_a_pool_once_warm()
    {
        for (var i = 0; i < 1000; i++)
            Frame.Copy(new byte[64]).Release(); // warm the pools on this thread
        var payload = new byte[64];
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
            Frame.Copy(payload).Release();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
