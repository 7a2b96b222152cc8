using IfApi.Crossing;
using IfApi.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Health;

/// <summary>Liveness and readiness for orchestrators; no key needed.</summary>
public static class HealthApi
{
    /// <param name="Status"><c>alive</c> or <c>ready</c>.</param>
    /// <param name="Frames">On <c>/readyz</c>: whether frames cross to other replicas now (SPEC §7); not a reason to be unready.</param>
    public sealed record HealthStatus(string Status, string? Frames = null);

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/healthz", () => TypedResults.Ok(new HealthStatus("alive")))
            .WithName("Healthz").WithSummary("The process is alive").WithTags("Health").AllowAnonymous()
            .WithDescription("200 while the process runs, whatever the store does: for a liveness probe. It takes no input and needs no key.");
        routes.MapGet("/readyz", Ready)
            .WithName("Readyz").WithSummary("The store is reachable and migrated").WithTags("Health").AllowAnonymous()
            .WithDescription("200 when the store answers and its migrations are applied, else 503 with why: for a readiness probe. `frames` says whether frames cross to other replicas now, which does not make the service unready. It takes no input and needs no key.")
            .ProducesProblem(503);
        return routes;
    }

    public static async Task<Results<Ok<HealthStatus>, ProblemHttpResult>> Ready(IServiceProvider sp, StoreOptions store, FrameCrossing crossing, HttpContext http, CancellationToken ct)
    {
        try
        {
            if (await StoreSetup.IsMigratedAsync(sp, ct))
                return TypedResults.Ok(new HealthStatus("ready", crossing.State));
            return NotReady("migrations are not applied yet");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return NotReady($"the store is unreachable: {e.GetBaseException().Message}");
        }

        // Not ready is a state to wait out, like an unreachable store anywhere else.
        ProblemHttpResult NotReady(string detail)
        {
            http.Response.Headers.RetryAfter = store.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Problem(detail, statusCode: 503, title: "Service Unavailable");
        }
    }
}
