using IfApi.Frames;

namespace IfApi.Tap;

/// <summary>Runs the plane's sweep: station aging and retries.</summary>
internal sealed class FrameSweeper(FramePlane plane, ILogger<FrameSweeper> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(plane.Options.SweepInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await plane.SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning(e, "frame path sweep failed");
            }
        }
    }
}
