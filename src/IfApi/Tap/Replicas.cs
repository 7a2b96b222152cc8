using IfApi.Application;
using IfApi.Frames;
using IfApi.Store;

namespace IfApi.Tap;

/// <summary>
/// Keeps this replica's tap devices exclusive across replicas: renews the leases of the devices open
/// here every third of <see cref="StoreOptions.LeaseDuration"/> (and closes, with 1001, a device
/// whose lease it finds gone: it was cut off from the store too long), and ends leases nobody renewed
/// (a replica that was killed), clearing IFF_RUNNING on their interfaces. It runs once at start-up,
/// so a restarted single service clears what it left behind as soon as its old leases run out.
/// </summary>
internal sealed class LeaseKeeper(FramePlane plane, TapDeviceService devices, StoreOptions options, ILogger<LeaseKeeper> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = options.LeaseDuration / 3;
        var renewed = System.Diagnostics.Stopwatch.GetTimestamp(); // when this replica's leases were last known good
        while (!stoppingToken.IsCancellationRequested)
        {
            var open = plane.LeasedDevices();
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                // Shared, a renewal that takes longer is as good as none. Alone on a SQLite store it
                // only waits its turn behind a burst of writes: nobody else can take these devices.
                if (options.Shared)
                    timeout.CancelAfter(period);
                if (open.Count > 0)
                {
                    var held = (await devices.RenewAsync(open.Select(d => d.Port.Id).ToList(), timeout.Token)).ToHashSet();
                    foreach (var (port, device) in open.Where(d => !held.Contains(d.Port.Id)))
                    {
                        // Another replica may have the device by now: two openers would each get half the frames.
                        log.LogWarning("the lease of tap {Id} was lost (this replica was cut off from the store for longer than {Lease}): closing its device here",
                            port.Id, options.LeaseDuration);
                        port.Revoke(device, "lease lost");
                    }
                }
                renewed = System.Diagnostics.Stopwatch.GetTimestamp();
                var cleared = await devices.ExpireAsync(timeout.Token);
                if (cleared > 0)
                    log.LogInformation("{Count} tap devices were left open by a replica that stopped: running cleared", cleared);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogWarning(e, "renewing tap leases failed; trying again in {Period}", period);
                // Unrenewed, the leases run out in the store and other replicas may open these devices:
                // close them here before that can happen.
                if (options.Shared && open.Count > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(renewed) > options.LeaseDuration - period)
                {
                    log.LogWarning("the store was out of reach for longer than the tap lease allows: closing {Count} devices", open.Count);
                    foreach (var (port, device) in open)
                        port.Revoke(device, "lease lost");
                }
            }
            await Task.Delay(period, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}

/// <summary>
/// The frame path follows changes other replicas commit (an interface taken down, a bridge member
/// added) through the event stream, as it follows this replica's own through the store's watcher.
/// It listens only while frames depend on it (<see cref="FramePlane.NeedsFollowing"/>). When it starts
/// listening it reads again what the plane holds, since anything loaded before may have changed
/// while nobody here listened.
/// </summary>
internal sealed class PlaneFollower(FramePlane plane, EventSequencer events, EventSignals signals, StoreOptions options,
    ILogger<PlaneFollower> log) : BackgroundService
{
    private const int Batch = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Shared)
            return; // nobody else changes it
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!plane.NeedsFollowing)
                {
                    await plane.WaitForDeviceAsync(TimeSpan.FromSeconds(1), stoppingToken);
                    continue;
                }
                await FollowAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogWarning(e, "following other replicas' changes failed; starting again");
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task FollowAsync(CancellationToken ct)
    {
        using var subscribed = signals.Subscribe();
        var from = await events.CatchUpAsync(ct);
        // Everything after `from` arrives as events; everything before it is in the store now.
        await plane.ReloadAsync(ct);
        while (plane.NeedsFollowing)
        {
            var stamped = signals.Stamped;
            IReadOnlyList<EventInfo> batch = signals.Recent(from, Batch, out var complete);
            if (!complete && batch.Count == 0)
            {
                batch = await events.ReadAsync(from, Batch, ct);
                complete = batch.Count < Batch;
            }
            var ids = batch.Where(e => e.InterfaceId is not null).Select(e => e.InterfaceId!.Value).Distinct().ToList();
            if (batch.Count > 0)
                from = batch[^1].Id;
            if (ids.Count > 0)
                await plane.ChangedAsync(ids, ct);
            if (batch.Count == Batch || !complete)
                continue;
            await stamped.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            ct.ThrowIfCancellationRequested();
        }
    }
}
