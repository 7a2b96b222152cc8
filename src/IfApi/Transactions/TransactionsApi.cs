using System.Text.Json;
using IfApi.Application;
using IfApi.Auth;
using IfApi.Domain;
using IfApi.Interfaces;
using IfApi.OpenApi;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Transactions;

/// <summary>Several operations of the API as one store transaction: all or nothing, in order.</summary>
public static class TransactionsApi
{
    public const int MaxOperations = 1000;

    public static IEndpointRouteBuilder MapTransactionsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/transactions", Apply).WithTags("Transactions").WithName("ApplyTransaction").RequireScope(Scopes.Write)
            .WithSummary("Apply up to 1000 operations all or nothing, in one transaction")
            .WithDescription("Each operation is a request as it would be sent on its own (`method`, `path` under /v1 with its query, `body`, `ifMatch`), needing its own scope, and answering what it would answer; a later one sees what the earlier ones changed (create `bridge0`, then add members to it). The first refusal rolls everything back: the answer is that operation's problem, with `operation` its place (from 0). Events are written only when the transaction commits. Streams, tap devices and frames cannot be operations. `?dryRun=true` answers what would happen and keeps nothing; an `Idempotency-Key` makes a retry answer what the first one did.")
            .Accepts<TransactionRequest>("application/json")
            .WithMetadata(NotInTransactions.Instance)
            .WithHeaders(request: [Headers.IdempotencyKey], response: [Headers.IdempotentReplayed])
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(405).ProducesProblem(409).ProducesProblem(412).ProducesProblem(422).ProducesProblem(503);
        return routes;
    }

    public static async Task<Ok<TransactionResponse>> Apply(TransactionRequest body, BatchService batches, OperationDispatcher dispatcher,
        HttpContext http, CancellationToken ct)
    {
        if (body.Operations is not { Count: > 0 and <= MaxOperations } operations)
            throw new IfError(Errno.EINVAL, $"a transaction has 1 to {MaxOperations} operations");
        var key = Idempotency.Key(http.Request, body, ioctl: null);
        var dryRun = BatchService.InDryRun; // ?dryRun=true has opened the transaction already
        var (answer, replayed) = await batches.RunAsync(Actor.Of(http), dryRun: false, async ct =>
        {
            if (key is not null && await batches.RecallAsync(key, ioctl: null, ct) is { } kept)
                return (JsonSerializer.Deserialize<TransactionResponse>(kept, JsonSerializerOptions.Web)! with { DryRun = dryRun }, true);
            var results = new List<OperationResult>(operations.Count);
            for (var i = 0; i < operations.Count; i++)
                results.Add(await dispatcher.RunAsync(http, operations[i] ?? throw new IfError(Errno.EINVAL, $"operation {i} is null"), i, ct));
            var answer = new TransactionResponse(results, dryRun);
            if (key is not null)
                await batches.KeepAsync(key, JsonSerializer.Serialize(answer, JsonSerializerOptions.Web), ct);
            return (answer, false);
        }, ct);
        if (replayed)
            http.Response.Headers[Idempotency.ReplayedHeader] = "true";
        return TypedResults.Ok(answer);
    }
}
