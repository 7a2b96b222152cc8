using IfApi.Frames;
using IfApi.Store;

namespace IfApi.Tap;

/// <summary>The store tells the frame plane what a committed change touched.</summary>
internal sealed class FramePlaneWatcher(IServiceProvider services) : IInterfaceWatcher
{
    private FramePlane? _plane;

    // Resolved on first use, as the store → watcher → plane → link source → store cycle needs until the application layer removes it.
    public ValueTask ChangedAsync(IReadOnlyList<Guid> ids, CancellationToken ct) =>
        (_plane ??= services.GetRequiredService<FramePlane>()).ChangedAsync(ids, ct);
}
