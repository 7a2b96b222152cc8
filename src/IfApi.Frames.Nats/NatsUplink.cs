using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace IfApi.Frames.Nats;

/// <summary>Settings of frames between replicas (<c>Frames:Nats:*</c>, SPEC §7).</summary>
public sealed class NatsFramesOptions
{
    public const string Section = "Frames:Nats";

    /// <summary><c>Frames:Nats:Url</c>: the NATS server (credentials may be in it); unset, frames stay in each process.</summary>
    public string? Url { get; set; }

    /// <summary><c>Frames:Nats:CredsFile</c>: a NATS credentials file (JWT and seed).</summary>
    public string? CredsFile { get; set; }

    /// <summary><c>Frames:Nats:Prefix</c>: the first tokens of every subject, so deployments can share a NATS.</summary>
    public string Prefix { get; set; } = "ifapi";

    /// <summary><c>Frames:Nats:QueueLength</c>: frames waiting to go to other replicas; one more is dropped and counted.</summary>
    public int QueueLength { get; set; } = 8192;

    /// <summary>The URL with any password in it hidden, for logs and <c>/readyz</c>.</summary>
    public string SafeUrl => Url is null ? "" : System.Text.RegularExpressions.Regex.Replace(Url, "(?<=://)[^@/,]*@", "***@");
}

/// <summary>
/// The frame plane's uplink over NATS core publish/subscribe: at most once, as Ethernet. Subjects
/// under the prefix: <c>bridge.ID</c> carries what a bridge floods (a replica subscribes while a
/// member of it is open there), <c>replica.ID</c> what a bridge sends to a station learned behind
/// that replica, <c>device.ID</c> what a tap transmits while its device is open on another replica
/// (subscribed by that replica). Frames queued for the same subject go in one message, never
/// waiting for more: the sender takes what is queued when it gets to it, so an idle path sends
/// each frame at once and a busy one fills messages.
/// </summary>
public sealed class NatsUplink : IReplicaUplink, IAsyncDisposable
{
    /// <summary>Frames for one subject share a message up to this size (a larger frame goes alone).</summary>
    public const int MessageBytes = 32 * 1024;

    /// <summary>Messages a subscription holds for this replica before NATS's client drops (and this counts) the newest.</summary>
    public const int ReceivePending = 512;

    private readonly FramePlane _plane;
    private readonly NatsFramesOptions _options;
    private readonly ILogger _log;
    private readonly NatsConnection _nats;
    private readonly Channel<Outgoing> _out;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Guid, string> _bridgeSubjects = new();
    private readonly ConcurrentDictionary<Guid, string> _replicaSubjects = new();
    private readonly ConcurrentDictionary<Guid, string> _deviceSubjects = new();
    private readonly Dictionary<string, Subscription> _subscriptions = [];
    private readonly SemaphoreSlim _interest = new(0, 1);
    private long _wanted, _applied; // interest changes asked for, and those the subscriptions match
    private TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _sending = Task.CompletedTask, _following = Task.CompletedTask;
    private volatile bool _up;
    private readonly TaskCompletionSource _firstConnect = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly record struct Outgoing(Arrival How, Guid Target, string Subject, Frame Frame);

    private sealed record Subscription(INatsSub<NatsMemoryOwner<byte>> Sub, Task Reading);

    public NatsUplink(FramePlane plane, NatsFramesOptions options, ILogger<NatsUplink> log)
    {
        (_plane, _options, _log) = (plane, options, log);
        _out = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(options.QueueLength)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        }, dropped =>
        {
            Counters.Drop(CrossingDrop.QueueFull);
            dropped.Frame.Release();
        });
        var opts = NatsOpts.Default with
        {
            Url = options.Url!,
            Name = $"ifapi {Origin:N}",
            Echo = false, // a replica's own floods are not news to it
            RetryOnInitialConnect = true,
            MaxReconnectRetry = -1,
            ReconnectWaitMin = TimeSpan.FromMilliseconds(250),
            ReconnectWaitMax = TimeSpan.FromSeconds(2),
            SubPendingChannelCapacity = ReceivePending,
            SubPendingChannelFullMode = BoundedChannelFullMode.DropNewest,
            SuppressSlowConsumerWarnings = true, // counted instead, as every other drop
        };
        if (options.CredsFile is { Length: > 0 } creds)
            opts = opts with { AuthOpts = NatsAuthOpts.Default with { CredsFile = creds } };
        _nats = new NatsConnection(opts);
        _nats.ConnectionOpened += (_, _) => Changed(up: true);
        _nats.ConnectionDisconnected += (_, _) => Changed(up: false);
        _nats.MessageDropped += (_, _) =>
        {
            Counters.Drop(CrossingDrop.ReceiveFull);
            return ValueTask.CompletedTask;
        };
    }

    public Guid Origin { get; } = Guid.NewGuid();

    public CrossingCounters Counters { get; } = new();

    /// <summary>Whether frames cross to other replicas now.</summary>
    public bool Up => _up;

    public string SafeUrl => _options.SafeUrl;

    private ValueTask Changed(bool up)
    {
        _up = up;
        if (up)
        {
            _firstConnect.TrySetResult();
            _log.LogInformation("frames between replicas: connected to NATS at {Url}", _options.SafeUrl);
            InterestChanged(); // subscriptions made while away go out now
        }
        else
            _log.LogWarning("frames between replicas are down: NATS at {Url} is unreachable; switching inside this replica goes on; reconnecting", _options.SafeUrl);
        return ValueTask.CompletedTask;
    }

    /// <summary>Joins the plane and starts connecting, sending and following what the plane serves; returns at once.</summary>
    public void Start()
    {
        _plane.Attach(this);
        _sending = Task.Run(SendAsync);
        _following = Task.Run(FollowInterestAsync);
        InterestChanged();
    }

    /// <summary>
    /// <see cref="Start"/>, then waits up to <paramref name="wait"/> for the first connection and its
    /// subscriptions, so that a replica crosses frames from its first answer when NATS is there.
    /// Returns false when NATS did not answer in time; connecting goes on in the background.
    /// </summary>
    public async Task<bool> StartAsync(TimeSpan wait, CancellationToken ct)
    {
        Start();
        try
        {
            await _firstConnect.Task.WaitAsync(wait, ct);
        }
        catch (TimeoutException)
        {
            return false;
        }
        await SettledAsync(ct);
        return true;
    }

    public void Flood(Guid bridge, Frame frame) =>
        Queue(Arrival.Flood, bridge, _bridgeSubjects.GetOrAdd(bridge, static (id, p) => $"{p}.bridge.{id:N}", _options.Prefix), frame);

    public void Unicast(Guid bridge, RemoteReplica replica, Frame frame) =>
        Queue(Arrival.Unicast, bridge, _replicaSubjects.GetOrAdd(replica.Id, static (id, p) => $"{p}.replica.{id:N}", _options.Prefix), frame);

    public void ToDevice(Guid port, Frame frame) =>
        Queue(Arrival.Device, port, DeviceSubject(port), frame);

    private string DeviceSubject(Guid port) => _deviceSubjects.GetOrAdd(port, static (id, p) => $"{p}.device.{id:N}", _options.Prefix);

    private void Queue(Arrival how, Guid target, string subject, Frame frame)
    {
        if (!_up)
        {
            Counters.Drop(CrossingDrop.Down);
            frame.Release();
            return;
        }
        if (!_out.Writer.TryWrite(new Outgoing(how, target, subject, frame)))
        {
            Counters.Drop(CrossingDrop.Down); // stopped
            frame.Release();
        }
    }

    /// <summary>
    /// Takes what is queued and sends it, one message per subject for the frames of each (in the
    /// order queued), up to <see cref="MessageBytes"/> a message.
    /// </summary>
    private async Task SendAsync()
    {
        var reader = _out.Reader;
        var batches = new List<Batch>();
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                for (var taken = 0; taken < 4096 && reader.TryRead(out var item); taken++)
                {
                    var batch = BatchFor(batches, item);
                    var record = CrossingMessage.LengthBytes + item.Frame.Length;
                    if (batch is not null && batch.Length + record > Math.Max(MessageBytes, CrossingMessage.HeaderLength + record))
                    {
                        await PublishAsync(batch);
                        batches.Remove(batch);
                        batch = null;
                    }
                    if (batch is null)
                    {
                        batch = new Batch(item.How, item.Target, item.Subject, Math.Max(MessageBytes, CrossingMessage.HeaderLength + record));
                        CrossingMessage.WriteHeader(batch.Buffer, item.How, Origin, item.Target);
                        batches.Add(batch);
                    }
                    batch.Length += CrossingMessage.WriteRecord(batch.Buffer.AsSpan(batch.Length), item.Frame.Span);
                    batch.Frames++;
                    item.Frame.Release();
                }
                foreach (var batch in batches)
                    await PublishAsync(batch);
                batches.Clear();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var batch in batches)
                batch.Dispose();
            while (reader.TryRead(out var item))
                item.Frame.Release();
        }
    }

    private static Batch? BatchFor(List<Batch> batches, in Outgoing item)
    {
        foreach (var b in batches)
        {
            if (b.Target == item.Target && b.How == item.How && ReferenceEquals(b.Subject, item.Subject))
                return b;
        }
        return null;
    }

    private async ValueTask PublishAsync(Batch batch)
    {
        try
        {
            if (!_up)
            {
                Counters.Drop(CrossingDrop.Down, batch.Frames);
                return;
            }
            await _nats.PublishAsync(batch.Subject, (ReadOnlyMemory<byte>)batch.Buffer.AsMemory(0, batch.Length), cancellationToken: _stop.Token);
            Counters.Sent(batch.Frames, batch.Length);
        }
        catch (Exception e) when (e is NatsException or ObjectDisposedException)
        {
            Counters.Drop(CrossingDrop.Down, batch.Frames);
        }
        finally
        {
            batch.Dispose();
        }
    }

    private sealed class Batch(Arrival how, Guid target, string subject, int size) : IDisposable
    {
        public Arrival How { get; } = how;
        public Guid Target { get; } = target;
        public string Subject { get; } = subject;
        public byte[] Buffer { get; private set; } = ArrayPool<byte>.Shared.Rent(size);
        public int Length { get; set; } = CrossingMessage.HeaderLength;
        public int Frames { get; set; }

        public void Dispose()
        {
            if (Buffer.Length > 0)
                ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = [];
        }
    }

    public void InterestChanged()
    {
        Interlocked.Increment(ref _wanted);
        if (_interest.CurrentCount > 0)
            return;
        try { _interest.Release(); }
        catch (SemaphoreFullException) { } // another change woke the follower first
    }

    public async Task SettledAsync(CancellationToken ct)
    {
        var wanted = Interlocked.Read(ref _wanted);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(2)); // NATS answers in well under a millisecond when it answers at all
        while (_up && Interlocked.Read(ref _applied) < wanted)
        {
            try
            {
                await Volatile.Read(ref _settled).Task.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return; // slow or away: frames from other replicas come once it catches up
            }
        }
    }

    /// <summary>Keeps the subscriptions as what the plane serves: this replica's own subject, the bridges with a member open here, the devices open here.</summary>
    private async Task FollowInterestAsync()
    {
        var own = $"{_options.Prefix}.replica.{Origin:N}";
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _interest.WaitAsync(_stop.Token);
                var wanted = Interlocked.Read(ref _wanted);
                var interest = _plane.Interest();
                var subjects = new HashSet<string>(interest.Bridges.Count + interest.Devices.Count + 1) { own };
                foreach (var bridge in interest.Bridges)
                    subjects.Add(_bridgeSubjects.GetOrAdd(bridge, static (id, p) => $"{p}.bridge.{id:N}", _options.Prefix));
                foreach (var device in interest.Devices)
                    subjects.Add(DeviceSubject(device));
                foreach (var gone in _subscriptions.Keys.Where(s => !subjects.Contains(s)).ToList())
                {
                    var sub = _subscriptions[gone];
                    _subscriptions.Remove(gone);
                    await sub.Sub.UnsubscribeAsync();
                }
                var added = false;
                foreach (var subject in subjects.Where(s => !_subscriptions.ContainsKey(s)))
                {
                    var sub = await _nats.SubscribeCoreAsync<NatsMemoryOwner<byte>>(subject, cancellationToken: _stop.Token);
                    _subscriptions[subject] = new Subscription(sub, Task.Run(() => ReceiveAsync(sub)));
                    added = true;
                }
                if (added)
                    await _nats.PingAsync(_stop.Token); // the server has read every SUB before this PONG
                Interlocked.Exchange(ref _applied, wanted);
                Interlocked.Exchange(ref _settled, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _log.LogWarning(e, "frames between replicas: subscribing failed; trying again");
                await Task.Delay(TimeSpan.FromMilliseconds(500), _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                InterestChanged();
            }
        }
    }

    private async Task ReceiveAsync(INatsSub<NatsMemoryOwner<byte>> sub)
    {
        var msgs = sub.Msgs;
        try
        {
            while (await msgs.WaitToReadAsync(_stop.Token))
            {
                while (msgs.TryRead(out var msg))
                {
                    using var data = msg.Data;
                    Receive(data.Memory.Span);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _log.LogWarning(e, "frames between replicas: receiving on {Subject} failed", sub.Subject);
        }
    }

    /// <summary>One message from another replica: its frames go where the plane says, or are dropped and counted.</summary>
    internal void Receive(ReadOnlySpan<byte> message)
    {
        if (!CrossingMessage.TryReadHeader(message, out var how, out var origin, out var target))
        {
            Counters.Drop(CrossingDrop.Malformed);
            return;
        }
        if (origin == Origin)
            return; // its own, back (a shared NATS account with echo on): nothing is echoed
        var offset = CrossingMessage.HeaderLength;
        var frames = 0;
        while (CrossingMessage.TryReadRecord(message, ref offset, out var bytes, out _))
        {
            frames++;
            if (!_plane.Arrive(origin, how, target, Frame.Copy(bytes)))
                Counters.Drop(CrossingDrop.NotServed);
        }
        Counters.Received(frames, message.Length);
        if (offset != message.Length)
            Counters.Drop(CrossingDrop.Malformed);
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _up = false;
        _stop.Cancel();
        _out.Writer.TryComplete();
        await Task.WhenAll(_sending, _following).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var sub in _subscriptions.Values)
            await sub.Sub.DisposeAsync();
        await _nats.DisposeAsync();
        _stop.Dispose();
        _interest.Dispose();
    }
}
