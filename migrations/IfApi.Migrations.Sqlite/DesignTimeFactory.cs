using IfApi.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace IfApi.Migrations.Sqlite;

/// <summary>Lets <c>dotnet ef</c> build the model for SQLite without starting the service.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<IfDbContext>
{
    public IfDbContext CreateDbContext(string[] args) =>
        new(StoreSetup.Configure(new DbContextOptionsBuilder<IfDbContext>(), new StoreOptions { Provider = StoreProvider.Sqlite, ConnectionString = "Data Source=design.db" }).Options);
}
