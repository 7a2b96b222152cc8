using IfApi.Domain;

namespace IfApi.Application;

/// <summary>
/// The cloning device <c>/dev/tap</c> as the store sees it: a tap created, brought up and opened,
/// and made a member of a bridge when one is named, in one transaction; destroyed when it closes.
/// </summary>
public sealed class CloningDevice(BatchService batch, InterfaceService interfaces, TapDeviceService devices, BridgeService bridges)
{
    /// <summary>
    /// Opens it: the new tap, and the bridge it joined. Unknown bridge: ENXIO; not a bridge:
    /// EOPNOTSUPP; either way nothing is left of the open.
    /// </summary>
    public Task<(InterfaceInfo Tap, InterfaceInfo? Segment)> OpenAsync(string? bridge, string? actor, CancellationToken ct) =>
        batch.RunAsync(actor, dryRun: false, ct => OpenHereAsync(bridge, actor, ct), ct);

    /// <summary>Closes it: the tap is destroyed wherever it is now (it leaves its bridge with it); gone already is no error.</summary>
    public async Task CloseAsync(Guid tap, string? actor, CancellationToken ct)
    {
        try
        {
            await interfaces.DestroyWhereverAsync(tap, actor, ct);
        }
        catch (IfError e) when (e.Errno == Errno.ENXIO)
        {
            // destroyed by a client meanwhile
        }
    }

    /// <summary>
    /// The whole of an open onto a bridge made for it, and its close, as a dry run: the store's
    /// statements for them are compiled and the code behind them has run once, so the first visitor
    /// after a start waits no longer than the next; nothing is kept, no event is written.
    /// </summary>
    public Task WarmAsync(CancellationToken ct) =>
        batch.RunAsync(null, dryRun: true, async ct =>
        {
            var (segment, _) = await interfaces.CreateAsync("bridge", null, null, null, ct);
            var (tap, _) = await OpenHereAsync(segment.Name, null, ct);
            await interfaces.DestroyWhereverAsync(tap.Id, null, ct);
            return true;
        }, ct);

    private async Task<(InterfaceInfo Tap, InterfaceInfo? Segment)> OpenHereAsync(string? bridge, string? actor, CancellationToken ct)
    {
        var (tap, _) = await interfaces.CreateAsync("tap", null, null, actor, ct);
        await devices.OpenAsync(tap.Id, bringUp: true, actor, ct);
        var segment = bridge is null ? null : (await bridges.AddAsync(bridge, tap.Name, null, actor, ct)).Bridge;
        return (tap, segment);
    }
}
