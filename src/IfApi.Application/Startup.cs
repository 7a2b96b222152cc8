using IfApi.Domain;
using IfApi.Store;
using Microsoft.Extensions.Logging;

namespace IfApi.Application;

/// <summary>What the service does to its store when it starts, after the migrations.</summary>
public sealed class Startup(TransactionRunner tx, ILogger<Startup> log)
{
    private const string Bootstrapped = "bootstrapped";

    /// <summary>
    /// At first start: the index pool and the built-in cloners with their minIfs interfaces. On every
    /// start: the configured static interfaces that are missing. Safe to race from several replicas.
    /// </summary>
    public Task BootstrapAsync(IReadOnlyList<string> staticInterfaces, CancellationToken ct)
    {
        foreach (var name in staticInterfaces)
            IfNames.Validate(name); // a bad configuration stops start-up before any write
        return tx.WriteAsync(null, async (s, ct) =>
        {
            await s.LockAsync(Pools.Bootstrap, ct);
            if (!await s.HasMetaAsync(Bootstrapped, ct))
            {
                await s.CreatePoolAsync(Pools.Ifindex, 1, int.MaxValue, ct);
                foreach (var spec in ClonerSpec.BuiltIn)
                    await ClonerService.AttachAsync(s, spec, indexesMadeHere: true, ct);
                s.SetMeta(Bootstrapped, DateTimeOffset.UtcNow.ToString("O"));
                log.LogInformation("first start: attached cloners {Cloners}", string.Join(", ", ClonerSpec.BuiltIn.Select(c => c.Name)));
            }
            foreach (var name in staticInterfaces)
            {
                if (await s.NameTakenAsync(name, ct))
                    continue;
                await Cloning.AttachStaticAsync(s, name, indexesMadeHere: false, ct);
                await s.SaveAsync(ct);
                log.LogInformation("static interface {Name} attached", name);
            }
            await TapDeviceService.ClearLeftOpenAsync(s, ct);
            return true;
        }, ct);
    }
}
