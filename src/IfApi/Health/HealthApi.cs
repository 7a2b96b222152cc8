using IfApi.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Health;

/// <summary>Liveness and readiness for orchestrators; no key needed.</summary>
public static class HealthApi
{
    public sealed record HealthStatus(string Status);

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/healthz", () => TypedResults.Ok(new HealthStatus("alive")))
            .WithName("Healthz").WithSummary("The process is alive").WithTags("Health").AllowAnonymous();
        routes.MapGet("/readyz", Ready)
            .WithName("Readyz").WithSummary("The store is reachable and migrated").WithTags("Health").AllowAnonymous()
            .ProducesProblem(503);
        return routes;
    }

    public static async Task<Results<Ok<HealthStatus>, ProblemHttpResult>> Ready(IServiceProvider sp, StoreOptions store, HttpContext http, CancellationToken ct)
    {
        try
        {
            if (await StoreSetup.IsMigratedAsync(sp, ct))
                return TypedResults.Ok(new HealthStatus("ready"));
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
